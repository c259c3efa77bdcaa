import Foundation
import Kube
import KubeTesting

// bench-kube: JOBS GPU Container jobs created through the Kube job runtime against the in-process
// fake API server (KubeTesting) with its simulated KubeVirt/CDI controller. Prints the API calls
// per job, the time until every job is running, the process's resident memory, and the rate at
// which an informer processes watch events.
await BenchKube.main()

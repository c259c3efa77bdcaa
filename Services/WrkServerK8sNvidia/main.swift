import Foundation
import HTTP
import ServiceKit

exit(
  await ServiceMain.runWithAdminEndpoint(WrkServerK8sNvidiaConfiguration.self, build: buildWrkServerK8sNvidia)
)

import Foundation
import HTTP
import ServiceKit

exit(await ServiceMain.runWithAdminEndpoint(DHTNodeServiceConfiguration.self, build: buildDHTNode))

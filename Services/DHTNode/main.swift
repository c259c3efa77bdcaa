import Foundation
import HTTP
import ServiceKit

exit(await ServiceMain.runWithAdminEndpoint(DHTNodeConfiguration.self, build: buildDHTNode))

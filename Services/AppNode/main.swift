import Foundation
import HTTP
import ServiceKit

exit(await ServiceMain.runWithAdminEndpoint(AppNodeConfiguration.self, build: buildAppNode))

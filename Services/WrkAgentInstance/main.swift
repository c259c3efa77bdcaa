import Foundation
import HTTP
import ServiceKit

exit(await ServiceMain.runWithAdminEndpoint(WrkAgentInstanceConfiguration.self, build: buildWrkAgentInstance))

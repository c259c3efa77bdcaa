import Foundation
import HTTP
import ServiceKit

exit(await ServiceMain.runWithAdminEndpoint(WrkOrkConfiguration.self, build: buildWrkOrk))

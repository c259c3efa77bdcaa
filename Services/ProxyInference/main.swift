import Foundation
import HTTP
import ServiceKit

exit(await ServiceMain.runWithAdminEndpoint(ProxyInferenceConfiguration.self, build: buildProxyInference))

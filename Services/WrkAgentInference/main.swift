import Foundation
import HTTP
import ServiceKit

exit(
  await ServiceMain.runWithAdminEndpoint(WrkAgentInferenceConfiguration.self, build: buildWrkAgentInference))

import Foundation

exit(CosmicCLI.run(arguments: Array(CommandLine.arguments.dropFirst())))

import Foundation

exit(await CosmicCLI.run(arguments: Array(CommandLine.arguments.dropFirst())))

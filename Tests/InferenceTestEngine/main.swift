import Foundation

exit(await TestEngineCommand.run(Array(CommandLine.arguments.dropFirst())))

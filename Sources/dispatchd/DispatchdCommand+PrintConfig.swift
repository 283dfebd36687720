import DConfig
import FoundationEssentials

extension DispatchdCommand {
    /// --print-config: the effective configuration (every setting, defaults included) as JSON,
    /// then each value a file or the environment gave, with its place, and the command line.
    static func printConfiguration(_ config: ServerConfiguration, origins: [ConfigSources.Origin]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        print("# effective configuration (defaults included)")
        print(json)
        print("# where given values came from (later lines win over earlier ones for the same setting)")
        for origin in origins { print("\(origin.source): \(origin.option) = \(origin.value)") }
        let arguments = CommandLine.arguments.dropFirst().filter { $0 != "--print-config" }
        print("command line: \(arguments.joined(separator: " "))")
    }
}

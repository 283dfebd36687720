import DConfig
import DMaster

/// The defaults as --help shows them, read from the configuration's own.
enum Default {
    static let value = ServerConfiguration(host: SystemHost())

    static func of(_ field: KeyPath<ServerConfiguration, Int>) -> String { String(value[keyPath: field]) }

    static func of(_ field: KeyPath<ServerConfiguration, Double>) -> String { seconds(value[keyPath: field]) }

    /// Whole seconds without a trailing ".0".
    static func seconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }

    static var requestTimeout: String { value.timeouts.request.map(seconds) ?? "none" }

    static var binds: String { value.listeners.binds.map(\.description).joined(separator: ", ") }

    static var requestBodyLimit: String {
        guard let bytes = value.bodies.limit else { return "unlimited" }
        return bytes % (1 << 20) == 0 ? "\(bytes), \(bytes >> 20) MiB" : String(bytes)
    }
}

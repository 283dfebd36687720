internal import CDCrypto

/// SHA-1 from OpenSSL's libcrypto (the WebSocket handshake needs it; nothing secret is hashed).
public enum SHA1 {
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { o in
                _ = CDCrypto.SHA1(input.baseAddress, input.count, o.baseAddress)
            }
        }
        return out
    }
}

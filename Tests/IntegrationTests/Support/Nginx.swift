import Foundation

/// Debian's nginx (apt), run in the foreground with a configuration the test writes, its pid,
/// logs and temporary files in a directory of its own.
final class Nginx {
    let process = Process()
    let directory: String

    /// Ports nobody listens on now (bound to port 0 and released).
    static func freePorts(_ count: Int) -> [Int] {
        var sockets: [Int32] = []
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    _ = bind(fd, $0, length)
                    _ = getsockname(fd, $0, &length)
                }
            }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
            sockets.append(fd)
        }
        for fd in sockets { close(fd) }
        return ports
    }

    /// uWSGI's usual parameters (nginx's uwsgi_params file), written out.
    static let uwsgiParams = """
        uwsgi_param QUERY_STRING $query_string;
        uwsgi_param REQUEST_METHOD $request_method;
        uwsgi_param CONTENT_TYPE $content_type;
        uwsgi_param CONTENT_LENGTH $content_length;
        uwsgi_param REQUEST_URI $request_uri;
        uwsgi_param PATH_INFO $document_uri;
        uwsgi_param DOCUMENT_ROOT $document_root;
        uwsgi_param SERVER_PROTOCOL $server_protocol;
        uwsgi_param REQUEST_SCHEME $scheme;
        uwsgi_param HTTPS $https if_not_empty;
        uwsgi_param REMOTE_ADDR $remote_addr;
        uwsgi_param REMOTE_PORT $remote_port;
        uwsgi_param SERVER_PORT $server_port;
        uwsgi_param SERVER_NAME $server_name;
        """

    /// Starts nginx with `servers` (server blocks) inside its http block; returns once it
    /// accepts connections on `port`.
    init(servers: String, port: Int) throws {
        directory = NSTemporaryDirectory() + "dispatchd-nginx-\(getpid())-\(port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = directory
        let config = """
            worker_processes 1;
            daemon off;
            pid \(d)/nginx.pid;
            error_log \(d)/error.log info;
            events { worker_connections 512; }
            http {
                access_log off;
                client_body_temp_path \(d)/body;
                proxy_temp_path \(d)/proxy;
                uwsgi_temp_path \(d)/uwsgi;
                fastcgi_temp_path \(d)/fastcgi;
                scgi_temp_path \(d)/scgi;
                client_max_body_size 20m;
                map $http_upgrade $connection_upgrade { default upgrade; '' close; }
            \(servers)
            }
            """
        _ = FileManager.default.createFile(atPath: d + "/nginx.conf", contents: Data(config.utf8))
        let binary = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [binary, "-p", d, "-c", d + "/nginx.conf"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? RawClient(port: port)) != nil { return }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw ServerStartError(description: "nginx did not start:\n\(errorLog)")
    }

    var errorLog: String { (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? "" }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 14, container and Kubernetes: the files in conf/container and conf/kubernetes pass
    /// their checkers (which fail on a broken copy), and the options they give dispatchd are
    /// options it accepts, with the image's environment.
    @Suite struct DeploymentFilesTests {
        static let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"

        static func temporaryCopy(_ files: [String: String]) throws -> String {
            let dir = NSTemporaryDirectory() + "dispatchd-deploy-\(getpid())-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (name, text) in files { try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
            return dir
        }

        @Test func kubernetesTimingsAgree() throws {
            let conf = Paths.repository + "/conf/kubernetes"
            var (status, output) = Command.run([Self.python, conf + "/check.py"])
            #expect(status == 0 && output.contains("within terminationGracePeriodSeconds 35s"), "\(output)")
            // A grace period shorter than preStop + --shutdown-delay + --graceful-timeout.
            let deployment = try String(contentsOfFile: conf + "/deployment.yaml", encoding: .utf8)
            let service = try String(contentsOfFile: conf + "/service.yaml", encoding: .utf8)
            let short = deployment.replacingOccurrences(
                of: "terminationGracePeriodSeconds: 35", with: "terminationGracePeriodSeconds: 20")
            #expect(short != deployment)
            let dir = try Self.temporaryCopy(["deployment.yaml": short, "service.yaml": service])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            (status, output) = Command.run([
                Self.python, conf + "/check.py", dir + "/deployment.yaml", dir + "/service.yaml",
            ])
            #expect(status == 1 && output.contains("terminationGracePeriodSeconds"), "\(output)")
        }

        @Test func containerfileHoldsTogether() throws {
            let conf = Paths.repository + "/conf/container"
            var (status, output) = Command.run([Self.python, conf + "/check.py"])
            #expect(status == 0, "\(output)")
            let file = try String(contentsOfFile: conf + "/Containerfile", encoding: .utf8)
            let tini = file.replacingOccurrences(
                of: #"ENTRYPOINT ["dispatchd"]"#, with: #"ENTRYPOINT ["tini", "--", "dispatchd"]"#)
            #expect(tini != file)
            let dir = try Self.temporaryCopy(["Containerfile": tini])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            (status, output) = Command.run([Self.python, conf + "/check.py", dir + "/Containerfile"])
            #expect(status == 1 && output.contains("ENTRYPOINT"), "\(output)")
        }

        /// The Deployment's args, with the image's ENV, are a configuration dispatchd accepts.
        @Test func manifestOptionsAreOptions() throws {
            let script = """
                import sys, yaml
                docs = list(yaml.safe_load_all(open(sys.argv[1])))
                pod = [d for d in docs if d and d.get('kind') == 'Deployment'][0]['spec']['template']['spec']
                print('\\n'.join(pod['containers'][0]['args']))
                """
            let (status, output) = Command.python(script, [Paths.repository + "/conf/kubernetes/deployment.yaml"])
            #expect(status == 0, "\(output)")
            let args = output.split(separator: "\n").map(String.init)
            #expect(args.contains("--stats=:9191"), "\(args)")
            var env = ProcessInfo.processInfo.environment
            for key in env.keys where key.hasPrefix("DISPATCHD_") && key != "DISPATCHD_BINARY" { env[key] = nil }
            env["DISPATCHD_MODULE"] = "app:app"
            env["PORT"] = "8080"
            env["DISPATCHD_STATS"] = ":9191"
            let (exit, text) = Command.run(
                [Paths.binary] + args + ["--print-config"], directory: Paths.repository + "/conf/echo",
                environment: env)
            #expect(exit == 0, "\(text)")
            #expect(text.contains(#""shutdownDelay" : 5"#) && text.contains(#""gracefulTimeout" : 20"#), "\(text)")
        }
    }
}

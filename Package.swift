// swift-tools-version:6.1
// dispatchd: a production application server for Python WSGI apps.
//
// The embedded CPython is the interpreter named by $PYTHON (default: `python3` on PATH). The
// manifest asks that interpreter for its include and library directories and sets an rpath, so
// the binary loads the libpython it was compiled against (SwiftPM's pkg-config lookup would pick
// Debian's python3-embed and drop the rpath: Docs/platform-notes.md, "Which libpython the
// binary loads").
import Foundation
import PackageDescription

struct PythonPaths {
    var include: String
    var libdir: String
    var ldversion: String
}

func askPython() -> PythonPaths {
    let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
    let script =
        "import sysconfig as s; print(s.get_config_var('INCLUDEPY')); "
        + "print(s.get_config_var('LIBDIR')); print(s.get_config_var('LDVERSION'))"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python, "-c", script]
    let pipe = Pipe()
    process.standardOutput = pipe
    do {
        try process.run()
        process.waitUntilExit()
    } catch {
        fatalError("dispatchd: cannot run \(python) to locate libpython: \(error)")
    }
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let lines = out.split(separator: "\n").map(String.init)
    guard process.terminationStatus == 0, lines.count == 3 else {
        fatalError("dispatchd: \(python) did not report its sysconfig paths")
    }
    return PythonPaths(include: lines[0], libdir: lines[1], ldversion: lines[2])
}

let py = askPython()

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "dispatchd",
    products: [
        .executable(name: "dispatchd", targets: ["dispatchd"]),
        .library(name: "DHTTP1", targets: ["DHTTP1"]),
        .library(name: "DWebSocket", targets: ["DWebSocket"]),
        .library(name: "DStatic", targets: ["DStatic"]),
        .library(name: "DMaster", targets: ["DMaster"]),
        .library(name: "DConfig", targets: ["DConfig"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // MARK: - C modules (each imported by exactly one Swift module)
        .target(name: "CDPosix"),
        .systemLibrary(name: "CDEvent", pkgConfig: "libevent_core", providers: [.apt(["libevent-dev"])]),
        .systemLibrary(name: "CDCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CDTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .systemLibrary(name: "CDZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "CDPython",
            cSettings: [.unsafeFlags(["-I", py.include])],
            linkerSettings: [
                .unsafeFlags(["-L", py.libdir, "-Xlinker", "-rpath", "-Xlinker", py.libdir]),
                .linkedLibrary("python" + py.ldversion),
            ]
        ),

        // MARK: - Swift modules
        .target(name: "DPosix", dependencies: ["CDPosix"], swiftSettings: swiftSettings),
        .target(name: "DEventLoop", dependencies: ["CDEvent"], swiftSettings: swiftSettings),
        .target(name: "DIPC", dependencies: ["DPosix"], swiftSettings: swiftSettings),
        .target(name: "DHTTP1", swiftSettings: swiftSettings),
        .target(name: "DWebSocket", dependencies: ["DCrypto"], swiftSettings: swiftSettings),
        .target(name: "DStatic", dependencies: ["DHTTP1"], swiftSettings: swiftSettings),
        .target(name: "DConfig", swiftSettings: swiftSettings),
        .target(name: "DCrypto", dependencies: ["CDCrypto"], swiftSettings: swiftSettings),
        .target(name: "DTLS", dependencies: ["CDTLS"], swiftSettings: swiftSettings),
        .target(name: "DCompression", dependencies: ["CDZlib"], swiftSettings: swiftSettings),
        .target(
            name: "DWSGI",
            dependencies: ["CDPython", "DHTTP1", "DPosix"],
            // The bridge's Python half, compiled into the binary as byte arrays (PackageResources):
            // a copied binary needs no file beside it (EmbeddedPython.swift).
            resources: [
                .embedInCode("Python/dispatchd_core.py"),
                .embedInCode("Python/dispatchd_websocket.py"),
                .embedInCode("Python/dispatchd_channels.py"),
                .embedInCode("Python/dispatchd_flask.py"),
                .embedInCode("Python/dispatchd_flask_uwsgi_websocket.py"),
                .embedInCode("Python/dispatchd_flask_ext.py"),
                .embedInCode("Python/dispatchd_lifecycle.py"),
                .embedInCode("Python/dispatchd_uwsgidecorators.py"),
            ],
            swiftSettings: swiftSettings + [.unsafeFlags(["-Xcc", "-I", "-Xcc", py.include])]
        ),
        .target(
            name: "DMaster", dependencies: ["DPosix", "DEventLoop", "DIPC", "DConfig"], swiftSettings: swiftSettings),
        .target(
            name: "DWorker",
            dependencies: [
                "DPosix", "DEventLoop", "DIPC", "DHTTP1", "DWSGI", "DWebSocket", "DCompression", "DStatic", "DConfig",
                "DTLS",
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "dispatchd",
            dependencies: [
                "DMaster", "DWorker", "DConfig", "DIPC", "DPosix", "DTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Tests
        .testTarget(name: "DHTTP1Tests", dependencies: ["DHTTP1"], swiftSettings: swiftSettings),
        .testTarget(
            name: "DWebSocketTests", dependencies: ["DWebSocket", "DCrypto", "DCompression"],
            swiftSettings: swiftSettings),
        .testTarget(name: "DStaticTests", dependencies: ["DStatic", "DHTTP1"], swiftSettings: swiftSettings),
        .testTarget(
            name: "DMasterTests", dependencies: ["DMaster", "DEventLoop", "DPosix", "DConfig"],
            swiftSettings: swiftSettings),
        .testTarget(name: "DIPCTests", dependencies: ["DIPC", "DPosix", "CDPosix"], swiftSettings: swiftSettings),
        .testTarget(name: "DConfigTests", dependencies: ["DConfig"], swiftSettings: swiftSettings),
        .testTarget(
            name: "DWSGITests",
            dependencies: ["DWSGI", "DHTTP1"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["dispatchd", "DConfig"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)

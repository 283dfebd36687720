// swift-tools-version:6.1
// libFuzzer targets: the HTTP/1.1 request parser and chunked decoder (HTTP1Fuzzer), and the
// WebSocket codec and session with the static-file path and range parsing (WebSocketFuzzer). A separate package, so
// that the main build never links libFuzzer. Run it with `Fuzz/run.sh`, which builds every
// module (DHTTP1 included) with -sanitize=fuzzer,address so coverage guides the fuzzer.
import PackageDescription

let package = Package(
    name: "fuzz",
    dependencies: [.package(name: "dispatchd", path: "../")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "HTTP1Fuzzer",
            dependencies: ["FuzzDriver", .product(name: "DHTTP1", package: "dispatchd")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "WebSocketFuzzer",
            dependencies: [
                "FuzzDriver", .product(name: "DWebSocket", package: "dispatchd"),
                .product(name: "DStatic", package: "dispatchd"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)

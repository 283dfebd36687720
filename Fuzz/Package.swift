// swift-tools-version:6.1
// libFuzzer target for the HTTP/1.1 request parser and chunked decoder. A separate package, so
// that the main build never links libFuzzer. Run it with `Fuzz/run.sh`, which builds every
// module (DHTTP1 included) with -sanitize=fuzzer,address so coverage guides the fuzzer.
import PackageDescription

let package = Package(
    name: "fuzz",
    dependencies: [.package(name: "dispatchd", path: "../")],
    targets: [
        .executableTarget(
            name: "HTTP1Fuzzer",
            dependencies: [.product(name: "DHTTP1", package: "dispatchd")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)

// swift-tools-version:6.1
// In-process micro-benchmarks (ordo-one/benchmark). A separate package, so that the main build
// and `swift test` never build the benchmark dependencies. Run:
//   cd Benchmarks && swift package benchmark --target HTTP1ParserBenchmarks
// The load harness against peer servers is run.py beside this file.
import PackageDescription

let package = Package(
    name: "benchmarks",
    dependencies: [
        // `name:` must equal the root manifest's name (a path dependency is otherwise named after
        // its directory, which differs between clones).
        .package(name: "dispatchd", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HTTP1ParserBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DHTTP1", package: "dispatchd"),
            ],
            path: "Benchmarks/HTTP1ParserBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)

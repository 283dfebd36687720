import Benchmark
import DHTTP1

/// A small head (curl-like) and a large one (a browser's, 20 fields, 895 bytes).
let smallHead = Array("GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n".utf8)
let largeHead: [UInt8] = {
    var text = "GET /api/v1/items/12345/comments?page=3&sort=desc&filter=recent HTTP/1.1\r\nHost: www.example.com\r\n"
    text +=
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
    text += "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    text += "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\nAccept-Encoding: gzip, deflate, br\r\n"
    text +=
        "Cookie: session=4f2a9c1e7b3d8a6f5e0c2b1a9d8e7f6a; csrftoken=Zk3Qm9Xr7Tb2Lw5Np8Vc1Hy4Jd6Gs0Fa; theme=dark\r\n"
    text += "Referer: https://www.example.com/items/12345\r\nConnection: keep-alive\r\nCache-Control: max-age=0\r\n"
    text +=
        "Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Site: same-origin\r\n"
    text +=
        "Sec-Fetch-User: ?1\r\nSec-Ch-Ua: \"Chromium\";v=\"120\", \"Not?A_Brand\";v=\"8\"\r\nSec-Ch-Ua-Mobile: ?0\r\n"
    text += "Sec-Ch-Ua-Platform: \"Linux\"\r\nX-Requested-With: XMLHttpRequest\r\nX-Forwarded-For: 203.0.113.7\r\n"
    text += "DNT: 1\r\n\r\n"
    return Array(text.utf8)
}()

func parseHead(_ bytes: [UInt8], _ iterations: Range<Int>) {
    var parser = RequestHeadParser(
        limits: HTTPLimits(requestLine: 8192, fieldLine: 8192, headSize: 65536, fieldCount: 100))
    var head = RequestHead()
    for _ in iterations {
        parser.reset()
        let result = bytes.withUnsafeBytes { parser.parse($0, into: &head) }
        precondition(result == .complete)
        blackHole(head.length)
    }
}

let benchmarks: @Sendable () -> Void = {
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions],
        scalingFactor: .kilo, maxDuration: .seconds(3))
    Benchmark("HTTP1:Parse:SmallGET (\(smallHead.count) B)", configuration: config) { b in
        parseHead(smallHead, b.scaledIterations)
    }
    Benchmark("HTTP1:Parse:LargeGET (\(largeHead.count) B, 20 fields)", configuration: config) { b in
        parseHead(largeHead, b.scaledIterations)
    }
    Benchmark("HTTP1:Chunked:Decode16x1KiB", configuration: config) { b in
        let chunk = String(repeating: "a", count: 1024)
        let wire = Array((String(repeating: "400\r\n\(chunk)\r\n", count: 16) + "0\r\n\r\n").utf8)
        for _ in b.scaledIterations {
            var decoder = ChunkedDecoder()
            var offset = 0
            var total = 0
            loop: while true {
                switch wire.withUnsafeBytes({ decoder.step(UnsafeRawBufferPointer(rebasing: $0[offset...])) }) {
                case .data(let s, let c):
                    total += c
                    offset += s + c
                case .done, .needMore, .invalid: break loop
                }
            }
            blackHole(total)
        }
    }
}

import DCompression
import DWebSocket
import Testing

/// The answer to one offer with `memory` bytes a connection may keep.
func answer(_ offer: String, memory: Int = 1 << 20) -> PerMessageDeflate? {
    PerMessageDeflate.negotiate([offer], memory: memory)
}

/// What the server keeps for a compressor of `bits` (memLevel bits - 7) and a decompressor of
/// `clientBits`.
func cost(server bits: Int?, client clientBits: Int?) -> Int {
    (bits.map { PerMessageDeflate.compressorMemory(windowBits: $0, memLevel: $0 - 7) } ?? 0)
        + (clientBits.map { PerMessageDeflate.decompressorMemory(windowBits: $0) } ?? 0)
}

@Suite struct PerMessageDeflateTests {
    /// Offers the server declines, and the next acceptable one taken instead.
    @Test func declinedOffers() {
        for offer in [
            "permessage-deflate; unknown_param",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=true",
            "permessage-deflate; server_max_window_bits",
            // zlib's raw deflate cannot compress with 256 bytes, and the answer may not be larger.
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=x",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=09",
            "x-webkit-deflate-frame",
        ] {
            #expect(answer(offer) == nil, "\(offer)")
        }
        #expect(
            PerMessageDeflate.negotiate(
                ["x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=8", "permessage-deflate"],
                memory: 1 << 20)?.response == "permessage-deflate")
        #expect(answer("permessage-deflate; server_max_window_bits=\"12\"")?.serverWindowBits == 12)
        #expect(answer("PerMessage-Deflate ; Server_No_Context_Takeover")?.serverTakeover == false)
    }

    /// With memory to spare, each parameter as offered: takeover on both sides unless the client
    /// asks otherwise; the server's window as requested; the client's as it says it uses.
    @Test func parametersWithMemoryToSpare() throws {
        let cases: [(offer: String, response: String, server: Int?, client: Int?)] = [
            ("permessage-deflate", "permessage-deflate", 15, 15),
            ("permessage-deflate; client_max_window_bits", "permessage-deflate", 15, 15),
            (
                "permessage-deflate; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover", nil, 15
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover", 15, nil
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover", nil, nil
            ),
            ("permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10", 10, 15),
            (
                "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10", nil, 15
            ),
            ("permessage-deflate; server_max_window_bits=9", "permessage-deflate; server_max_window_bits=9", 9, 15),
            ("permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_max_window_bits=15", 15, 15),
            // The client says it uses no more than 10 bits: nothing to answer, a smaller decompressor.
            ("permessage-deflate; client_max_window_bits=10", "permessage-deflate", 15, 10),
            // 8 bits: a decompressor of 9, which also reads zlib's 9 made of a request for 8.
            ("permessage-deflate; client_max_window_bits=8", "permessage-deflate", 15, 9),
            (
                "permessage-deflate; client_max_window_bits=12; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover", 15, nil
            ),
        ]
        for c in cases {
            let d = try #require(answer(c.offer), "\(c.offer)")
            #expect(d.response == c.response, "\(c.offer)")
            #expect(d.serverTakeover == (c.server != nil), "\(c.offer)")
            #expect(d.clientTakeover == (c.client != nil), "\(c.offer)")
            if let bits = c.server {
                #expect(d.serverWindowBits == bits && d.serverMemLevel == bits - 7, "\(c.offer)")
            }
            if let bits = c.client { #expect(d.clientWindowBits == bits, "\(c.offer)") }
            #expect(d.memory == cost(server: c.server, client: c.client), "\(c.offer)")
        }
        // Without takeover, the worker's shared compressor has the window the client asked for.
        #expect(
            answer("permessage-deflate; server_max_window_bits=11; server_no_context_takeover")?.serverWindowBits == 11)
        #expect(answer("permessage-deflate; server_no_context_takeover")?.serverWindowBits == 15)
    }

    /// Less memory: smaller windows on both sides (the client's only when it offered
    /// client_max_window_bits), then the server's side alone, then the client's, then neither;
    /// never more than the bound.
    @Test func negotiatedDownToTheBound() throws {
        let browser = "permessage-deflate; client_max_window_bits"
        let steps: [(memory: Int, response: String, server: Int?, client: Int?)] = [
            (cost(server: 15, client: 15), "permessage-deflate", 15, 15),
            (
                cost(server: 15, client: 15) - 1,
                "permessage-deflate; server_max_window_bits=14; client_max_window_bits=14", 14, 14
            ),
            (64 << 10, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12", 12, 12),
            (
                cost(server: 9, client: 9), "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9", 9,
                9
            ),
            // Both at 9 do not fit: the server's side alone, with the largest window that fits.
            (
                cost(server: 9, client: 9) - 1,
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=10", 10, nil
            ),
            (
                cost(server: 9, client: nil),
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=9", 9, nil
            ),
            // Not even that: the client's side alone.
            (
                cost(server: 9, client: nil) - 1,
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=11", nil, 11
            ),
            (
                cost(server: nil, client: 9),
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=9", nil, 9
            ),
            (
                cost(server: nil, client: 9) - 1,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover", nil, nil
            ),
            (0, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", nil, nil),
        ]
        for step in steps {
            let d = try #require(answer(browser, memory: step.memory))
            #expect(d.response == step.response, "\(step.memory)")
            #expect(d.serverTakeover == (step.server != nil) && d.clientTakeover == (step.client != nil))
            if let bits = step.server { #expect(d.serverWindowBits == bits && d.serverMemLevel == bits - 7) }
            if let bits = step.client { #expect(d.clientWindowBits == bits) }
            #expect(d.memory == cost(server: step.server, client: step.client) && d.memory <= step.memory)
        }
        // Without client_max_window_bits the client's window stays 15: the server's shrinks.
        let plain = try #require(answer("permessage-deflate", memory: 64 << 10))
        #expect(plain.response == "permessage-deflate; server_max_window_bits=11")
        #expect(plain.clientTakeover && plain.clientWindowBits == 15 && plain.memory == cost(server: 11, client: 15))
        // Then the server's side alone, then neither (the server's side costs less than a
        // decompressor of 15 bits: the client's side alone only when the server's is ruled out).
        #expect(
            answer("permessage-deflate", memory: cost(server: 9, client: 15) - 1)?.response
                == "permessage-deflate; client_no_context_takeover; server_max_window_bits=12")
        #expect(
            answer("permessage-deflate", memory: cost(server: 9, client: nil) - 1)?.response
                == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(
            answer("permessage-deflate; server_no_context_takeover", memory: cost(server: nil, client: 15))?.response
                == "permessage-deflate; server_no_context_takeover")
        #expect(
            answer("permessage-deflate; server_no_context_takeover", memory: cost(server: nil, client: 15) - 1)?
                .response == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(
            answer("permessage-deflate; server_max_window_bits=9", memory: cost(server: 9, client: nil))?.response
                == "permessage-deflate; client_no_context_takeover; server_max_window_bits=9")
        // The client's window as it offered it, smaller only as far as memory needs.
        #expect(
            answer("permessage-deflate; client_max_window_bits=10", memory: 1 << 20)?.response == "permessage-deflate")
        #expect(
            answer("permessage-deflate; client_max_window_bits=10", memory: cost(server: 10, client: 10) - 1)?.response
                == "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9")
        // A side the client keeps no context for leaves the memory to the other.
        #expect(
            answer("permessage-deflate; client_no_context_takeover", memory: 64 << 10)?.response
                == "permessage-deflate; client_no_context_takeover; server_max_window_bits=12")
    }

    /// Every offer form at every bound from 0 to 320 KiB: within the bound, and more memory never
    /// gives less context.
    @Test func boundHoldsForEveryOffer() {
        let parameters = [
            "server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=9",
            "server_max_window_bits=12", "client_max_window_bits", "client_max_window_bits=8",
            "client_max_window_bits=11",
        ]
        var offers: [String] = []
        for mask in 0..<(1 << parameters.count) {
            let chosen = parameters.indices.filter { mask & (1 << $0) != 0 }.map { parameters[$0] }
            let names = chosen.map { $0.split(separator: "=")[0] }
            if Set(names).count == names.count {
                offers.append((["permessage-deflate"] + chosen).joined(separator: "; "))
            }
        }
        for offer in offers {
            var previous = -1
            for memory in stride(from: 0, through: 320 << 10, by: 509) {
                guard let d = answer(offer, memory: memory) else {
                    Issue.record("\(offer) declined")
                    break
                }
                #expect(d.memory <= memory, "\(offer) at \(memory)")
                #expect(d.memory >= previous, "\(offer) at \(memory)")
                if offer.contains("server_no_context_takeover") { #expect(!d.serverTakeover) }
                if offer.contains("client_no_context_takeover") { #expect(!d.clientTakeover) }
                previous = d.memory
            }
        }
    }

    /// The memory formulas are what zlib allocates (counted by the streams' allocator), within a
    /// stream's own objects.
    @Test func memoryFormulasMatchZlib() throws {
        for bits in 9...15 {
            for level in Set([1, bits - 7, 8, 9]) {
                let formula = PerMessageDeflate.compressorMemory(windowBits: bits, memLevel: level)
                let d = DeflateStream(windowBits: bits, memLevel: level)
                let message = Array("a message to compress, a message to compress".utf8)
                _ = message.withUnsafeBytes { d.compress($0) }
                #expect(d.allocatedBytes <= formula && formula - d.allocatedBytes <= 512, "\(bits)/\(level)")
            }
            let inflater = InflateStream(windowBits: bits)
            let compressed = Array("x".utf8).withUnsafeBytes { DeflateStream(windowBits: 9).compress($0) }
            #expect(try inflater.decompress(compressed, limit: 10) == Array("x".utf8))
            let formula = PerMessageDeflate.decompressorMemory(windowBits: bits)
            #expect(inflater.allocatedBytes <= formula && formula - inflater.allocatedBytes <= 512, "\(bits)")
        }
    }

    /// Short messages are sent as they are: under 64 bytes alone, under 8 with takeover.
    @Test func compressMinimum() {
        #expect(answer("permessage-deflate")?.compressMinimum == 8)
        #expect(answer("permessage-deflate; server_no_context_takeover")?.compressMinimum == 64)
        #expect(answer("permessage-deflate", memory: 0)?.compressMinimum == 64)
    }
}

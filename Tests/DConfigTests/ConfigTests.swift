import DConfig
import Testing

/// A made-up machine: its environment, CPU count, and the directories that exist (each with
/// the canonical path realpath gives).
struct FakeHost: ConfigHost {
    var variables: [String: String] = [:]
    var processorCount = 3
    var directories: [String: String] = [
        "/tmp": "/tmp", "/srv/app": "/srv/app", "static": "/home/u/static", "/venv": "/venv",
    ]

    func environment(_ name: String) -> String? { variables[name] }
    func isDirectory(_ path: String) -> Bool { directories[path] != nil }
    func realpath(_ path: String) -> String? { directories[path] }
}

/// A builder on the fake machine with the application given, so that only what a test sets
/// can be wrong.
func builder(_ host: FakeHost = FakeHost()) -> ConfigurationBuilder {
    var b = ConfigurationBuilder(host: host)
    b.setApplication("app:application")
    return b
}

/// Builds, failing the test with the problems when there are any.
func build(
    _ b: inout ConfigurationBuilder, sourceLocation: SourceLocation = #_sourceLocation
) throws -> ServerConfiguration {
    let c = b.build()
    return try #require(c, "\(b.errors)", sourceLocation: sourceLocation)
}

/// The problems a configuration has after `change`.
func problems(_ change: (inout ConfigurationBuilder) -> Void) -> [ConfigError] {
    var b = builder()
    change(&b)
    let c = b.build()
    #expect(c == nil)
    return b.errors
}

@Suite struct ConfigTests {
    /// The defaults, including the three that come from the machine.
    @Test func defaults() throws {
        let c = ServerConfiguration(host: FakeHost())
        #expect(c.application == ServerConfiguration.Application())
        #expect(c.application.callable == "application")
        #expect(c.application.virtualenv == nil)
        #expect(c.listeners.binds.map(\.address) == [.tcp(host: "127.0.0.1", port: 8000)])
        #expect(c.listeners.backlog == 1024)
        #expect(c.workers.count == 3)
        #expect(c.workers.gracefulTimeout == 30)
        #expect(
            c.limits.requestLine == 8192 && c.limits.fieldSize == 8192 && c.limits.fieldCount == 100
                && c.limits.headSize == 65536)
        #expect(
            c.timeouts.keepAlive == 75 && c.timeouts.header == 10 && c.timeouts.body == 30 && c.timeouts.write == 30)
        #expect(c.timeouts.request == nil && c.timeouts.requestGrace == 5)
        #expect(c.bodies.limit == 104_857_600)
        #expect(c.bodies.bufferSize == 1 << 20)
        #expect(c.bodies.spoolDirectory == "/tmp")
        #expect(c.webSocket.maxMessage == 1 << 20 && c.webSocket.pingInterval == 30 && c.webSocket.pingTimeout == 10)
        #expect(c.webSocket.deflateMemory == 65536)
        #expect(c.statics == ServerConfiguration.Statics())
        #expect(c.statics.maps.isEmpty && c.statics.index == nil && !c.statics.fallThrough)
        #expect(!c.statics.followSymlinks && !c.statics.dotfiles)
        #expect(c.logging.accessLog)
        #expect(!c.compatibility.uwsgi)

        var b = builder()
        let built = try build(&b)
        #expect(b.errors.isEmpty)
        #expect(built.application.module == "app")
    }

    /// $TMPDIR and $VIRTUAL_ENV give their defaults; an empty variable counts as unset.
    @Test func defaultsFromTheEnvironment() {
        let c = ServerConfiguration(host: FakeHost(variables: ["TMPDIR": "/var/tmp", "VIRTUAL_ENV": "/venv"]))
        #expect(c.bodies.spoolDirectory == "/var/tmp")
        #expect(c.application.virtualenv == "/venv")
        let empty = ServerConfiguration(host: FakeHost(variables: ["TMPDIR": "", "VIRTUAL_ENV": ""]))
        #expect(empty.bodies.spoolDirectory == "/tmp")
        #expect(empty.application.virtualenv == nil)
    }

    /// A setting not given (nil) keeps its default, also an optional one the environment set;
    /// one given replaces it.
    @Test func settingsNotGivenKeepTheirDefaults() throws {
        var b = builder(FakeHost(variables: ["VIRTUAL_ENV": "/venv"]))
        // Variables, as a front end passes them (a literal nil would not test the optional case).
        let keepAlive: Double? = nil
        let virtualenv: String? = nil
        b.set(\.timeouts.keepAlive, keepAlive)
        b.set(\.application.virtualenv, virtualenv)
        b.set(\.workers.count, 7)
        b.set(\.statics.index, "index.html")
        let c = try build(&b)
        #expect(c.timeouts.keepAlive == ServerConfiguration(host: FakeHost()).timeouts.keepAlive)
        #expect(c.application.virtualenv == "/venv")
        #expect(c.workers.count == 7)
        #expect(c.statics.index == "index.html")
    }

    /// MODULE:CALLABLE, MODULE alone, and a callable given separately (which wins).
    @Test func applicationSpec() throws {
        var b = ConfigurationBuilder(host: FakeHost())
        b.setApplication("pkg.web:make_app")
        var c = try build(&b)
        #expect(c.application.module == "pkg.web" && c.application.callable == "make_app")

        b = ConfigurationBuilder(host: FakeHost())
        b.setApplication("pkg.web")
        b.set(\.application.callable, nil)
        c = try build(&b)
        #expect(c.application.module == "pkg.web" && c.application.callable == "application")

        b = ConfigurationBuilder(host: FakeHost())
        b.setApplication("pkg.web:make_app")
        b.set(\.application.callable, "other")
        c = try build(&b)
        #expect(c.application.callable == "other")

        b = ConfigurationBuilder(host: FakeHost())
        b.set(\.application.wsgiFile, "app.py")
        c = try build(&b)
        #expect(c.application.module == nil && c.application.wsgiFile == "app.py")
    }

    /// The application must be given, once, as a module name.
    @Test func applicationProblems() {
        var b = ConfigurationBuilder(host: FakeHost())
        let failed = b.build()
        #expect(failed == nil)
        #expect(b.errors == [ConfigError(.app, .missing(alternative: .wsgiFile))])

        #expect(
            problems { $0.set(\.application.wsgiFile, "app.py") } == [ConfigError(.app, .conflicts(with: .wsgiFile))])
        #expect(
            problems { $0.set(\.application.callable, "") } == [
                ConfigError(.callable, .invalid("", reason: "is not a name"))
            ])
        for (spec, reason) in [
            ("dir/app.py", "is a path, not a module name"), (":app", "has no module name"),
            ("app:", "has an empty callable after ':'"),
        ] {
            b = ConfigurationBuilder(host: FakeHost())
            b.setApplication(spec)
            let failed = b.build()
            #expect(failed == nil)
            // Not also reported as missing.
            #expect(b.errors == [ConfigError(.app, .invalid(spec, reason: reason))], "\(spec)")
        }
    }

    /// Each numeric rule names its setting and says what it got.
    @Test func numericRules() {
        let cases: [((inout ConfigurationBuilder) -> Void, ConfigError)] = [
            ({ $0.set(\.workers.count, 0) }, ConfigError(.workers, .tooSmall(minimum: "1", got: "0"))),
            ({ $0.set(\.listeners.backlog, -3) }, ConfigError(.backlog, .tooSmall(minimum: "1", got: "-3"))),
            (
                { $0.set(\.workers.gracefulTimeout, -1) },
                ConfigError(.gracefulTimeout, .tooSmall(minimum: "0", got: "-1.0"))
            ),
            (
                { $0.set(\.workers.gracefulTimeout, .infinity) },
                ConfigError(.gracefulTimeout, .invalid("inf", reason: "is not a number of seconds"))
            ),
            ({ $0.set(\.limits.requestLine, 0) }, ConfigError(.limitRequestLine, .tooSmall(minimum: "1", got: "0"))),
            ({ $0.set(\.limits.fieldSize, 0) }, ConfigError(.limitRequestFieldSize, .tooSmall(minimum: "1", got: "0"))),
            ({ $0.set(\.limits.fieldCount, 0) }, ConfigError(.limitRequestFields, .tooSmall(minimum: "1", got: "0"))),
            ({ $0.set(\.limits.headSize, 0) }, ConfigError(.limitRequestHead, .tooSmall(minimum: "1", got: "0"))),
            ({ $0.setRequestBodyLimit(-1) }, ConfigError(.limitRequestBody, .tooSmall(minimum: "0", got: "-1"))),
            ({ $0.set(\.bodies.bufferSize, -1) }, ConfigError(.bodyBufferSize, .tooSmall(minimum: "0", got: "-1"))),
            ({ $0.set(\.timeouts.keepAlive, 0) }, ConfigError(.keepAlive, .notPositiveSeconds(got: "0.0"))),
            ({ $0.set(\.timeouts.header, -2) }, ConfigError(.headerTimeout, .notPositiveSeconds(got: "-2.0"))),
            ({ $0.set(\.timeouts.body, .nan) }, ConfigError(.bodyTimeout, .notPositiveSeconds(got: "nan"))),
            ({ $0.set(\.timeouts.write, .infinity) }, ConfigError(.writeTimeout, .notPositiveSeconds(got: "inf"))),
            ({ $0.setRequestTimeout(-1) }, ConfigError(.timeout, .tooSmall(minimum: "0", got: "-1.0"))),
            (
                { $0.setRequestTimeout(.nan) },
                ConfigError(.timeout, .invalid("nan", reason: "is not a number of seconds"))
            ),
            (
                { $0.set(\.timeouts.requestGrace, -0.5) },
                ConfigError(.timeoutGrace, .tooSmall(minimum: "0", got: "-0.5"))
            ),
            (
                { $0.set(\.timeouts.requestGrace, .infinity) },
                ConfigError(.timeoutGrace, .invalid("inf", reason: "is not a number of seconds"))
            ),
            (
                { $0.set(\.webSocket.maxMessage, 0) },
                ConfigError(.websocketMaxMessage, .tooSmall(minimum: "1", got: "0"))
            ),
            (
                { $0.set(\.webSocket.pingInterval, 0) },
                ConfigError(.websocketPingInterval, .notPositiveSeconds(got: "0.0"))
            ),
            (
                { $0.set(\.webSocket.pingTimeout, 0) },
                ConfigError(.websocketPingTimeout, .notPositiveSeconds(got: "0.0"))
            ),
            (
                { $0.set(\.webSocket.deflateMemory, -1) },
                ConfigError(.websocketDeflateMemory, .tooSmall(minimum: "0", got: "-1"))
            ),
        ]
        for (change, expected) in cases {
            #expect(problems(change) == [expected])
        }
    }

    /// The smallest accepted values pass.
    @Test func boundaryValuesAreAccepted() throws {
        var b = builder()
        b.set(\.workers.count, 1)
        b.set(\.listeners.backlog, 1)
        b.set(\.workers.gracefulTimeout, 0)
        b.set(\.bodies.bufferSize, 0)
        b.set(\.timeouts.keepAlive, 0.001)
        b.set(\.timeouts.requestGrace, 0)
        b.set(\.webSocket.deflateMemory, 0)
        _ = try build(&b)
    }

    /// --timeout 0 means none (uWSGI's harakiri 0 does); any other number is the limit, in
    /// seconds, fractions allowed.
    @Test func requestTimeout() throws {
        var b = builder()
        b.setRequestTimeout(0)
        #expect(try build(&b).timeouts.request == nil)
        b = builder()
        b.setRequestTimeout(2.5)
        b.set(\.timeouts.requestGrace, 1)
        let c = try build(&b)
        #expect(c.timeouts.request == 2.5 && c.timeouts.requestGrace == 1)
        #expect(try ServerConfiguration(encoded: c.encoded()) == c)
        b = builder()
        b.setRequestTimeout(nil)
        #expect(try build(&b).timeouts.request == nil)
    }

    /// --limit-request-body 0 means unlimited; any other number is the limit.
    @Test func requestBodyLimit() throws {
        var b = builder()
        b.setRequestBodyLimit(0)
        #expect(try build(&b).bodies.limit == nil)
        b = builder()
        b.setRequestBodyLimit(1000)
        #expect(try build(&b).bodies.limit == 1000)
        b = builder()
        b.setRequestBodyLimit(nil)
        #expect(try build(&b).bodies.limit == ServerConfiguration(host: FakeHost()).bodies.limit)
    }

    /// --static-index must be a plain file name.
    @Test func staticIndexIsAFileName() {
        #expect(
            problems { $0.set(\.statics.index, "a/b.html") } == [
                ConfigError(.staticIndex, .invalid("a/b.html", reason: "must be a file name"))
            ])
        #expect(
            problems { $0.set(\.statics.index, "") } == [
                ConfigError(.staticIndex, .invalid("", reason: "must be a file name"))
            ])
    }

    /// Directories are checked on the machine; the spool directory and static maps become
    /// canonical, chdir and the virtualenv stay as given.
    @Test func directories() throws {
        var b = builder()
        b.set(\.application.chdir, "/srv/app")
        b.set(\.application.virtualenv, "/venv")
        b.setStaticMaps(["/assets/=static"])
        let c = try build(&b)
        #expect(c.statics.maps == [StaticMap(prefix: "/assets", directory: "/home/u/static")])
        #expect(c.application.chdir == "/srv/app")

        let errors = problems {
            $0.set(\.application.chdir, "/nope")
            $0.set(\.application.virtualenv, "/no-venv")
            $0.set(\.bodies.spoolDirectory, "/no-spool")
            $0.setStaticMaps(["/a=/no-static"])
        }
        #expect(
            errors == [
                ConfigError(.chdir, .notADirectory("/nope")), ConfigError(.virtualenv, .notADirectory("/no-venv")),
                ConfigError(.bodySpoolDir, .notADirectory("/no-spool")),
                ConfigError(.staticMap, .notADirectory("/no-static")),
            ])
    }

    /// Every problem is reported at once, not just the first.
    @Test func allProblemsAreCollected() {
        var b = ConfigurationBuilder(host: FakeHost())
        b.set(\.workers.count, 0)
        b.set(\.timeouts.keepAlive, -1)
        b.setBinds(["nonsense", ":8080", "unix:"])
        b.setStaticExpires(["/missing=10"])
        b.set(\.bodies.spoolDirectory, "/nowhere")
        let failed = b.build()
        #expect(failed == nil)
        #expect(Set(b.errors.map(\.setting)) == [.app, .workers, .keepAlive, .bind, .staticExpires, .bodySpoolDir])
        #expect(b.errors.filter { $0.setting == .bind }.count == 2)
    }

    /// Messages name the setting the way the caller spells it.
    @Test func messagesNameTheOption() {
        let flag = { (s: Setting) in s == .app ? "MODULE:CALLABLE" : "--\(s.rawValue)" }
        #expect(
            ConfigError(.workers, .tooSmall(minimum: "1", got: "0")).message(spelling: flag)
                == "--workers must be at least 1 (got 0)")
        #expect(
            ConfigError(.keepAlive, .notPositiveSeconds(got: "0.0")).message(spelling: flag)
                == "--keep-alive must be a positive number of seconds (got 0.0)")
        #expect(ConfigError(.chdir, .notADirectory("/x")).message(spelling: flag) == "--chdir: '/x' is not a directory")
        #expect(
            ConfigError(.app, .missing(alternative: .wsgiFile)).message(spelling: flag)
                == "missing the application: give MODULE:CALLABLE or --wsgi-file")
        #expect(
            ConfigError(.app, .conflicts(with: .wsgiFile)).message(spelling: flag)
                == "give either MODULE:CALLABLE or --wsgi-file, not both")
        #expect(
            ConfigError(.staticExpires, .unknownPrefix("/a", of: .staticMap)).message(spelling: flag)
                == "--static-expires: no --static-map has the prefix '/a'")
        #expect(ConfigError(.bind, .invalid("x", reason: "is bad")).message(spelling: flag) == "--bind: 'x' is bad")
        #expect(
            ConfigError(.limitRequestBody, .tooSmall(minimum: "0", got: "-1")).description
                == "limit-request-body must be at least 0 (got -1)")
    }

    /// Bind addresses: every accepted form, and the ones refused with why.
    @Test func bindAddresses() throws {
        #expect(try BindAddress.parse(":8080") == .tcp(host: nil, port: 8080))
        #expect(try BindAddress.parse("0.0.0.0:80") == .tcp(host: "0.0.0.0", port: 80))
        #expect(try BindAddress.parse("localhost:0") == .tcp(host: "localhost", port: 0))
        #expect(try BindAddress.parse("[::1]:9") == .tcp(host: "::1", port: 9))
        #expect(try BindAddress.parse("unix:/tmp/x.sock") == .unix(path: "/tmp/x.sock"))
        for (text, reason) in [
            ("8080", "is not HOST:PORT, :PORT or unix:PATH"), ("host:99999", "has an invalid port '99999'"),
            ("host:-1", "has an invalid port '-1'"), ("host:", "has an invalid port ''"),
            ("unix:", "has no socket path"), ("[::1:80", "is missing ']'"), ("[::1]80", "is not [ADDRESS]:PORT"),
        ] {
            #expect(throws: ConfigError(.bind, .invalid(text, reason: reason))) { try BindAddress.parse(text) }
        }
    }

    /// An address written out reads back as itself (--help shows the default this way).
    @Test func bindAddressDescriptionRoundTrips() throws {
        for text in [":8080", "0.0.0.0:80", "[::1]:9", "unix:/tmp/x.sock", "127.0.0.1:8000"] {
            #expect(try BindAddress.parse(text).description == text)
        }
    }

    /// Several --bind replace the default; none keeps it.
    @Test func binds() throws {
        var b = builder()
        b.setBinds([])
        #expect(try build(&b).listeners.binds == ServerConfiguration(host: FakeHost()).listeners.binds)
        b = builder()
        b.setBinds([":0", "unix:/run/a.sock"])
        #expect(try build(&b).listeners.binds.map(\.address) == [.tcp(host: nil, port: 0), .unix(path: "/run/a.sock")])
    }

    /// PREFIX=DIR: the prefix starts with '/' and loses trailing slashes; anything else is refused.
    @Test func staticMapParsing() throws {
        #expect(try StaticMap.parse("/assets=./static") == StaticMap(prefix: "/assets", directory: "./static"))
        #expect(try StaticMap.parse("/a//=d") == StaticMap(prefix: "/a", directory: "d"))
        #expect(try StaticMap.parse("/=d=e") == StaticMap(prefix: "/", directory: "d=e"))
        for text in ["assets=d", "/assets", "/assets=", "=d"] {
            #expect(
                throws: ConfigError(
                    .staticMap, .invalid(text, reason: "is not PREFIX=DIR with PREFIX starting with '/'"))
            ) {
                try StaticMap.parse(text)
            }
        }
    }

    /// SECONDS or PREFIX=SECONDS; negative, non-numeric or prefix-less forms are refused.
    @Test func staticExpiresParsing() throws {
        #expect(try StaticMap.Expiry.parse("3600") == StaticMap.Expiry(prefix: nil, seconds: 3600))
        #expect(try StaticMap.Expiry.parse("/a/=0") == StaticMap.Expiry(prefix: "/a", seconds: 0))
        for text in ["-1", "soon", "/a=x", "a=5", "=5", "/a="] {
            #expect(throws: ConfigError(.staticExpires, .invalid(text, reason: "is not SECONDS or PREFIX=SECONDS"))) {
                try StaticMap.Expiry.parse(text)
            }
        }
    }

    /// Expiries apply in order, once every map is known: SECONDS to each map without its own,
    /// PREFIX=SECONDS to that map; a prefix no map has is an error.
    @Test func staticExpiresApply() throws {
        var b = builder()
        b.setStaticExpires(["/b=10", "60", "/c=5"])
        b.setStaticMaps(["/a=static", "/b=static", "/c=static"])
        let c = try build(&b)
        #expect(c.statics.maps.map(\.expires) == [60, 10, 5])

        #expect(
            problems {
                $0.setStaticMaps(["/a=static"])
                $0.setStaticExpires(["/nope=1"])
            } == [ConfigError(.staticExpires, .unknownPrefix("/nope", of: .staticMap))])
    }

    /// What the master encodes, a worker decodes to an equal value.
    @Test func encodingRoundTrips() throws {
        var b = builder(FakeHost(variables: ["VIRTUAL_ENV": "/venv"]))
        b.set(\.application.pythonPath, ["/lib/a", "/lib/b"])
        b.setBinds(["[::1]:9000", "unix:/run/app.sock", ":0"])
        b.setStaticMaps(["/assets=static", "/=static"])
        b.setStaticExpires(["/assets=120"])
        b.set(\.statics.index, "index.html")
        b.set(\.statics.dotfiles, true)
        b.setRequestBodyLimit(12345)
        b.set(\.timeouts.keepAlive, 1.5)
        b.set(\.logging.accessLog, false)
        b.set(\.compatibility.uwsgi, true)
        let c = try build(&b)
        #expect(try ServerConfiguration(encoded: c.encoded()) == c)

        var unlimited = builder()
        unlimited.setRequestBodyLimit(0)
        let u = try build(&unlimited)
        #expect(try ServerConfiguration(encoded: u.encoded()).bodies.limit == nil)
    }

    /// Bytes that are not an encoded configuration are refused, not guessed at.
    @Test func decodingGarbageFails() {
        #expect(throws: (any Error).self) { try ServerConfiguration(encoded: Array("{}".utf8)) }
        #expect(throws: (any Error).self) { try ServerConfiguration(encoded: []) }
    }

    /// Setting names are unique and look like long options.
    @Test func settingNames() {
        let names = Setting.allCases.map(\.rawValue)
        #expect(Set(names).count == names.count)
        for name in names { #expect(name.allSatisfy { $0.isLowercase || $0 == "-" }, "\(name)") }
    }
}

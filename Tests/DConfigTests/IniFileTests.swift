import DConfig
import Testing

/// uWSGI-style ini files: sections, comments, repeated keys, magic variables and $(ENV), and
/// errors that name the line.
@Suite struct IniFileTests {
    static func environment(_ name: String) -> String? { ["HOME": "/home/u", "N": "4"][name] }

    func entries(_ text: String, sections: [String] = ["uwsgi", "dispatchd"]) throws -> [String] {
        try IniFile(text: text, path: "/srv/app/site.ini", sections: sections, environment: Self.environment)
            .entries.map { "\($0.line) \($0.key)=\($0.value)" }
    }

    @Test func sectionsCommentsAndRepeatedKeys() throws {
        let text = """
            # a comment
            [uwsgi]
            http = :8080
            ; another
            bind=unix:/tmp/a.sock
            static-map = /a=%dstatic
            static-map = /b=$(HOME)/b

            [other]
            workers = 9
            [dispatchd]
              threads   =   $(N)
            """
        #expect(
            try entries(text) == [
                "3 http=:8080", "5 bind=unix:/tmp/a.sock", "6 static-map=/a=/srv/app/static",
                "7 static-map=/b=/home/u/b", "12 threads=4",
            ])
        #expect(try entries(text, sections: ["other"]) == ["10 workers=9"])
    }

    @Test func magicVariables() throws {
        #expect(
            try entries("[uwsgi]\nx = %d|%p|%s|%n|%x|100%%|$(UNSET)|$(N\n") == [
                "2 x=/srv/app/|/srv/app/site.ini|site.ini|site|ini|100%||$(N"
            ])
    }

    @Test(arguments: [
        ("[uwsgi]\nworkers 4\n", 2, "'workers 4' is not 'key = value'"),
        ("workers = 4\n", 1, "'workers' comes before any section (such as [uwsgi])"),
        ("[uwsgi\n", 1, "'[uwsgi' is not a section header like [uwsgi]"),
        ("[uwsgi]\n= 4\n", 2, "'= 4' has no key before '='"),
        ("[uwsgi]\n\nchdir = %q\n", 3, "unknown magic variable '%q' (known: %d %p %s %n %x %%)"),
    ])
    func errorsNameTheLine(text: String, line: Int, reason: String) {
        #expect(throws: IniFile.Failure(line: line, reason: reason)) {
            _ = try IniFile(text: text, path: "/x.ini", environment: Self.environment)
        }
    }
}

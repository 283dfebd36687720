import DConfig
import Testing

/// uWSGI's YAML form: the keys under `uwsgi:`/`dispatchd:`, scalars and lists, comments,
/// quotes, the same expansions as ini files, and errors that name the line.
@Suite struct YAMLFileTests {
    static func environment(_ name: String) -> String? { ["HOME": "/home/u"][name] }

    func entries(_ text: String, sections: [String] = ["uwsgi", "dispatchd"]) throws -> [String] {
        try YAMLFile(text: text, path: "/srv/app/site.yaml", sections: sections, environment: Self.environment)
            .entries.map { "\($0.line) \($0.key)=\($0.value)" }
    }

    @Test func sectionsScalarsAndLists() throws {
        let text = """
            # deployment
            ---
            uwsgi:
              http: :8080   # all interfaces
              module: "app:make_app()"
              master: true
              static-map:
                - /a=%dstatic
                - '/b=$(HOME)/b # not a comment'
            other:
              workers: 9
            dispatchd:
                threads: 8
            """
        #expect(
            try entries(text) == [
                "4 http=:8080", "5 module=app:make_app()", "6 master=true", "8 static-map=/a=/srv/app/static",
                "9 static-map=/b=/home/u/b # not a comment", "13 threads=8",
            ])
        #expect(try entries(text, sections: ["other"]) == ["11 workers=9"])
    }

    @Test(arguments: [
        ("uwsgi:\n  http: :1\n   workers: 2\n", 3, "'workers: 2' is not indented as the keys above it"),
        ("workers: 2\n", 1, "'workers: 2' is not a section such as 'uwsgi:'"),
        ("uwsgi:\n  - x\n", 2, "a list item with no key above it"),
        (
            "uwsgi:\n  static-map: [a, b]\n", 2,
            "'[a, b]': only plain and quoted values and '- item' lists are read here"
        ),
        ("uwsgi:\n  module: \"app\n", 2, "an unterminated quoted value: \"app"),
        ("uwsgi:\n  nokey\n", 2, "'nokey' is not 'key: value'"),
    ])
    func errorsNameTheLine(text: String, line: Int, reason: String) {
        #expect(throws: IniFile.Failure(line: line, reason: reason)) {
            _ = try YAMLFile(text: text, path: "/x.yaml", environment: Self.environment)
        }
    }
}

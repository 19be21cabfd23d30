import Foundation
import KilnAPI
import KilnHTTP
import Logging
import Testing

/// The playground's files on a live server, fetched with curl: what is served, with which headers,
/// and that nothing else is (unknown names, `..`, encoded slashes). The page itself runs in
/// Chromium in Tests/EndToEnd/test_playground.py.
@Suite("Playground endpoints")
struct PlaygroundEndpointsTests {
    static let filesFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/KilnAPI/Playground/Files").standardizedFileURL

    static let assets: [(name: String, contentType: String)] = [
        ("app.js", "text/javascript; charset=utf-8"), ("api.js", "text/javascript; charset=utf-8"),
        ("chat.js", "text/javascript; charset=utf-8"), ("images.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"), ("icon.svg", "image/svg+xml"),
    ]

    final class Fixture {
        let server: HTTPServer

        init(apiKeys: [String] = []) throws {
            let router = Router(authenticator: APIKeyAuthenticator(keys: apiKeys))
            PlaygroundEndpoints.register(on: router)
            router.get("/v1/models") { _, responder in responder.respond(.json("{\"object\":\"list\",\"data\":[]}")) }
            var configuration = HTTPServerConfiguration()
            configuration.port = 0
            configuration.ioQueueCount = 1
            var logger = Logger(label: "test.playground")
            logger.logLevel = .critical
            server = HTTPServer(configuration: configuration, logger: logger, handler: router.handler)
            try server.start()
        }

        deinit { server.shutdownAndWait(gracePeriod: 0) }

        func url(_ path: String) -> String { "http://127.0.0.1:\(server.port)\(path)" }
    }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One request with curl, the path sent as written (`--path-as-is`: curl would otherwise
    /// resolve `..` itself); headers keyed in lowercase.
    static func fetch(_ url: String, _ arguments: [String] = []) throws -> Answer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-s", "-i", "--path-as-is"] + arguments + [url]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = [UInt8](pipe.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        let end = (0...(data.count - separator.count)).first { Array(data[$0..<$0 + separator.count]) == separator }!
        let lines = String(decoding: data[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = Int(lines[0].split(separator: " ")[1])!
        return Answer(status: status, headers: headers, body: Array(data[(end + separator.count)...]))
    }

    static func source(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: filesFolder.appendingPathComponent(name)))
    }

    static func expectSecurityHeaders(_ answer: Answer) {
        #expect(answer.headers["content-security-policy"] == PlaygroundEndpoints.contentSecurityPolicy)
        #expect(answer.headers["x-content-type-options"] == "nosniff")
        #expect(answer.headers["cache-control"] == "no-cache")
        #expect(answer.headers["etag"]?.hasPrefix("W/\"") == true)
    }

    @Test func thePageIsServedAtTheRootWithAStrictPolicy() throws {
        let fixture = try Fixture()
        let page = try Self.fetch(fixture.url("/"))
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        Self.expectSecurityHeaders(page)
        #expect(page.body == (try Self.source("index.html")))
        let policy = PlaygroundEndpoints.contentSecurityPolicy
        #expect(policy.hasPrefix("default-src 'self';"))
        #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
        for hook in ["prompt", "send", "messages", "image-prompt", "image-send", "image-result"] {
            #expect(page.text.contains("data-testid=\"\(hook)\""), "no data-testid \(hook)")
        }
        // HEAD answers the same head without the body.
        let head = try Self.fetch(fixture.url("/"), ["-I"])
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers["etag"] == page.headers["etag"])
    }

    @Test(arguments: assets)
    func eachFileIsServedAsBuiltWithItsType(name: String, contentType: String) throws {
        let fixture = try Fixture()
        let answer = try Self.fetch(fixture.url("/playground/\(name)"))
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"] == contentType)
        Self.expectSecurityHeaders(answer)
        // The bytes compiled into the binary are the repository's file, not a stale copy.
        #expect(answer.body == (try Self.source(name)))
    }

    /// Every file the page or a module refers to is served, and every file in the folder is.
    @Test func everyReferencedFileIsServed() throws {
        let folder = try FileManager.default.contentsOfDirectory(atPath: Self.filesFolder.path).sorted()
        #expect(folder == (Self.assets.map(\.name) + ["index.html"]).sorted())
        var referenced: Set<String> = []
        let patterns = [#"(?:src|href)="/playground/([^"]+)""#, #"from "\./([^"]+)""#]
        for name in folder {
            let text = String(decoding: try Self.source(name), as: UTF8.self)
            for pattern in patterns {
                for match in text.matches(of: try Regex(pattern)) {
                    referenced.insert(String(match.output[1].substring!))
                }
            }
        }
        #expect(referenced.isSuperset(of: ["app.js", "api.js", "chat.js", "images.js", "style.css", "icon.svg"]))
        #expect(referenced.isSubset(of: Set(Self.assets.map(\.name))))
    }

    @Test func conditionalRequestsAnswer304() throws {
        let fixture = try Fixture()
        let first = try Self.fetch(fixture.url("/playground/app.js"))
        let etag = try #require(first.headers["etag"])
        let strong = String(etag.dropFirst(2))
        for header in [etag, strong, "\"other\", \(etag)", "*"] {
            let again = try Self.fetch(fixture.url("/playground/app.js"), ["-H", "If-None-Match: \(header)"])
            #expect(again.status == 304, "If-None-Match: \(header)")
            #expect(again.body.isEmpty)
            #expect(again.headers["etag"] == etag)
        }
        let changed = try Self.fetch(fixture.url("/playground/app.js"), ["-H", "If-None-Match: W/\"0000000000000000\""])
        #expect(changed.status == 200 && changed.body == first.body)
        // Each file has its own validator.
        #expect(try Self.fetch(fixture.url("/playground/api.js")).headers["etag"] != etag)
    }

    @Test(arguments: [
        "/playground/nothing.js", "/playground/", "/playground", "/index.html", "/playground/app.js/",
        "/playground/app.js/x", "/playground/../Package.swift", "/playground/..%2fPackage.swift",
        "/playground/%2e%2e%2f%2e%2e%2fPackage.swift", "/playground/..", "/playground/.", "/playground/APP.JS",
        "/playground/app.js%00", "/../../etc/passwd", "/playground/%2fetc%2fpasswd", "/playground/Files/app.js",
    ])
    func unknownPathsAre404(path: String) throws {
        let fixture = try Fixture()
        let answer = try Self.fetch(fixture.url(path))
        #expect(answer.status == 404, "\(path)")
        #expect(answer.headers["content-type"] == "application/json")
        #expect(answer.text.contains("\"code\":\"not_found\""))
    }

    @Test func theFilesNeedNoKeyButTheAPIDoes() throws {
        let fixture = try Fixture(apiKeys: ["sk-playground"])
        #expect(try Self.fetch(fixture.url("/")).status == 200)
        for (name, _) in Self.assets { #expect(try Self.fetch(fixture.url("/playground/\(name)")).status == 200) }
        #expect(try Self.fetch(fixture.url("/v1/models")).status == 401)
        #expect(try Self.fetch(fixture.url("/v1/models"), ["-H", "Authorization: Bearer sk-playground"]).status == 200)
    }

    /// What the policy forbids the page never needs: no inline script or style, no event-handler
    /// attributes, and no script turns text into HTML or code.
    @Test func theSourcesKeepToThePolicy() throws {
        let page = String(decoding: try Self.source("index.html"), as: UTF8.self)
        let scripts = page.matches(of: #/<script([^>]*)>([^<]*)</script>/#)
        #expect(scripts.count == 1, "one entry module, app.js")
        for match in scripts {
            #expect(match.output.1.contains("src=\"/playground/"), "a script without src")
            #expect(match.output.2.isEmpty, "inline script")
        }
        #expect(!page.contains("<style"))
        #expect(page.firstMatch(of: #/\s(style|on[a-z]+)=/#) == nil, "inline style or event handler")
        for (name, _) in Self.assets where name.hasSuffix(".js") {
            let script = String(decoding: try Self.source(name), as: UTF8.self)
            for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout(\""] {
                #expect(!script.contains(forbidden), "\(name) uses \(forbidden)")
            }
        }
    }
}

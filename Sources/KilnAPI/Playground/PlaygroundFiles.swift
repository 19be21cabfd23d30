/// The playground's static files, compiled into the binary from `Playground/Files/` (SwiftPM's
/// `embedInCode` resource rule: `PackageResources` is generated at build time), so that `kiln`
/// serves them wherever it runs from, without a resource bundle beside it.
struct PlaygroundFiles: Sendable {
    /// One file as served: its bytes, media type and validator.
    struct File: Sendable {
        let contentType: String
        let body: [UInt8]
        /// A weak validator (`W/"…"`): the connection may gzip the bytes, and a strong one would
        /// then name two different representations.
        let etag: String

        init(contentType: String, body: [UInt8]) {
            self.contentType = contentType
            self.body = body
            etag = "W/\"\(Self.fingerprint(body))\""
        }

        /// 64-bit FNV-1a of the bytes, as 16 hex digits: a content hash for caches, not a secret.
        static func fingerprint(_ bytes: [UInt8]) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            let digits = String(hash, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
    }

    /// The page itself, served at `/`.
    let index: File
    /// What the page loads, by the last segment of `/playground/{file}`.
    let assets: [String: File]

    /// Built once: the tables are constant for the life of the process.
    static let shared = PlaygroundFiles()

    private init() {
        index = File(contentType: "text/html; charset=utf-8", body: PackageResources.index_html)
        let javaScript = "text/javascript; charset=utf-8"
        assets = [
            "app.js": File(contentType: javaScript, body: PackageResources.app_js),
            "api.js": File(contentType: javaScript, body: PackageResources.api_js),
            "chat.js": File(contentType: javaScript, body: PackageResources.chat_js),
            "images.js": File(contentType: javaScript, body: PackageResources.images_js),
            "style.css": File(contentType: "text/css; charset=utf-8", body: PackageResources.style_css),
            "icon.svg": File(contentType: "image/svg+xml", body: PackageResources.icon_svg),
        ]
    }
}

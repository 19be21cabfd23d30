import Foundation
import KilnJSON

/// A component's config.json (or any JSON file of a model folder: diffusers, sentence-transformers), with typed accessors that
/// fail with the file and key named.
public struct ComponentConfig {
    /// Config files are small; anything bigger is not one.
    public static let maxBytes = 16 << 20
    public let path: String
    public let root: JSONValue

    public init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw LayerError.missingFile(path) }
        defer { try? handle.close() }
        let data = handle.readData(ofLength: Self.maxBytes + 1)
        guard data.count <= Self.maxBytes else { throw LayerError.invalidConfig("\(path) is larger than \(Self.maxBytes) bytes") }
        do {
            root = try JSONParser().parse([UInt8](data))
        } catch {
            throw LayerError.invalidConfig("\(path): \(error)")
        }
        guard case .object = root else { throw LayerError.invalidConfig("\(path) is not a JSON object") }
        self.path = path
    }

    public func has(_ key: String) -> Bool { root[key].map { !$0.isNull } ?? false }

    public func int(_ key: String, default fallback: Int? = nil, range: ClosedRange<Int> = 0...1_000_000) throws -> Int {
        guard let value = root[key], !value.isNull else {
            if let fallback { return fallback }
            throw LayerError.invalidConfig("\(path): missing \(key)")
        }
        let number: Int
        switch value {
        case .int(let i): number = i
        case .double(let d) where d == d.rounded() && abs(d) < 1e9: number = Int(d)
        default: throw LayerError.invalidConfig("\(path): \(key) must be an integer")
        }
        guard range.contains(number) else { throw LayerError.invalidConfig("\(path): \(key) = \(number) is outside \(range)") }
        return number
    }

    public func double(_ key: String, default fallback: Double? = nil) throws -> Double {
        switch root[key] {
        case .int(let i)?: return Double(i)
        case .double(let d)?: return d
        case nil, .null?:
            if let fallback { return fallback }
            throw LayerError.invalidConfig("\(path): missing \(key)")
        default: throw LayerError.invalidConfig("\(path): \(key) must be a number")
        }
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        switch root[key] {
        case .bool(let b)?: return b
        case nil, .null?: return fallback
        default: throw LayerError.invalidConfig("\(path): \(key) must be true or false")
        }
    }

    public func string(_ key: String, default fallback: String? = nil) throws -> String {
        switch root[key] {
        case .string(let s)?: return s
        case nil, .null?:
            if let fallback { return fallback }
            throw LayerError.invalidConfig("\(path): missing \(key)")
        default: throw LayerError.invalidConfig("\(path): \(key) must be a string")
        }
    }

    public func strings(_ key: String) throws -> [String] {
        guard case .array(let items)? = root[key] else { throw LayerError.invalidConfig("\(path): \(key) must be an array") }
        return try items.map {
            guard case .string(let s) = $0 else { throw LayerError.invalidConfig("\(path): \(key) must hold strings") }
            return s
        }
    }

    /// An integer array, or one integer repeated `count` times (diffusers accepts either).
    public func ints(_ key: String, count: Int? = nil, range: ClosedRange<Int> = 1...100_000) throws -> [Int] {
        switch root[key] {
        case .array(let items)?:
            let values: [Int] = try items.map {
                switch $0 {
                case .int(let i) where range.contains(i): return i
                default: throw LayerError.invalidConfig("\(path): \(key) must hold integers in \(range)")
                }
            }
            if let count, values.count != count {
                throw LayerError.invalidConfig("\(path): \(key) has \(values.count) entries, expected \(count)")
            }
            return values
        case .int(let i)? where count != nil && range.contains(i):
            return [Int](repeating: i, count: count!)
        default:
            throw LayerError.invalidConfig("\(path): \(key) must be an integer array")
        }
    }
}

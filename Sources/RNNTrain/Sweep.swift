import Foundation
import RNNSupport

/// A sweep file (`Pipelines/*-investigation.json`, `*-search.json`, …): a base recipe, the axes to
/// vary and the seeds, expanded into runs. Documented in Artifacts/sweep-format.md.
public struct SweepFile: Decodable {
    public var name: String
    public var description: String?
    /// The recipe every run starts from (a name in Pipelines/ or a path).
    public var recipe: String
    /// The prep command's arguments (dataset, inputs, options); `$DATA` stands
    /// for the data directory. Runs whose tokenizer settings differ re-run it.
    public var prep: [String]
    /// Recipe fields every run changes first (dotted paths, e.g. "training.epochs").
    public var base: [String: JSONValue]?
    public var seeds: [UInt64]
    public var variation: Variation
    public var axes: [Axis]

    public enum Variation: String, Decodable {
        /// Every combination of the axes' values.
        case grid
        /// The base, then each axis's values with the others at the base.
        case oneAtATime = "one-at-a-time"
    }

    /// One thing varied: either `field` and plain `values`, or `values` that
    /// each set several fields (e.g. padding and truncation together).
    public struct Axis: Decodable {
        public var name: String
        public var field: String?
        public var values: [JSONValue]

        /// The fields each value sets.
        public func settings(_ index: Int) throws -> [String: JSONValue] {
            if let field { return [field: values[index]] }
            guard case .object(let fields) = values[index] else {
                throw DataError(
                    file: "axis \(name)", "value \(index + 1) must be an object of fields (no \"field\" given)")
            }
            return fields
        }

        /// How a value is shown: the plain value, or its fields' values (null: "none").
        public func label(_ index: Int) -> String {
            if field != nil { return values[index].shown }
            guard case .object(let fields) = values[index] else { return values[index].shown }
            return fields.keys.sorted().map { fields[$0]!.shown }.joined(separator: " / ")
        }
    }

    public static func load(_ url: URL) throws -> SweepFile {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DataError(
                file: url.path,
                FileManager.default.fileExists(atPath: url.path) ? "cannot read the sweep file" : "not found")
        }
        let file: SweepFile
        do { file = try JSONDecoder().decode(SweepFile.self, from: data) } catch {
            throw DataError(file: url.path, "not a sweep file: \(error)")
        }
        if file.seeds.isEmpty { throw DataError(file: url.path, "\"seeds\" is empty: give at least one") }
        for axis in file.axes where axis.values.isEmpty {
            throw DataError(file: url.path, "axis \"\(axis.name)\" has no values")
        }
        return file
    }
}

/// One run of a sweep: a full recipe (as JSON) and a seed.
public struct SweepRun: Equatable {
    /// The directory name under the sweep's output: the settings, then the seed.
    public var name: String
    /// The configuration without the seed: runs that differ only in seed share it.
    public var configuration: String
    /// (axis, value label) for every axis this run sets away from the base; empty for the base.
    public var settings: [Setting]
    /// Other settings that gave the same recipe (an axis value equal to the
    /// base's, or to another axis's value): the run stands in their rows too.
    public var aliases: [[Setting]] = []
    public var seed: UInt64
    /// The recipe this run trains with, canonical JSON (sorted keys).
    public var recipe: Data

    public struct Setting: Equatable {
        public var axis: String
        public var value: String

        public init(axis: String, value: String) {
            self.axis = axis
            self.value = value
        }
    }
}

extension SweepFile {
    /// Every run, the base first; runs whose recipes are equal are one run (an
    /// axis value equal to the base's is the base).
    public func expand(baseRecipe: Data) throws -> [SweepRun] {
        let base = try baseSettings(baseRecipe)
        typealias Choice = (axis: Int, value: Int)
        var combinations: [[Choice]]
        switch variation {
        case .oneAtATime:
            combinations = [[]] + axes.indices.flatMap { a in axes[a].values.indices.map { [(a, $0)] } }
        case .grid:
            combinations = axes.indices.reduce([[]]) { partial, a in
                partial.flatMap { prefix in axes[a].values.indices.map { prefix + [(a, $0)] } }
            }
        }
        var runs: [SweepRun] = []
        var seen: [Data: String] = [:]
        for choices in combinations {
            var recipe = base
            for choice in choices {
                for (path, value) in try axes[choice.axis].settings(choice.value) { try recipe.set(path, value) }
            }
            let canonical = try JSONValue.object(recipe).canonical()
            let settings = choices.map {
                SweepRun.Setting(axis: axes[$0.axis].name, value: axes[$0.axis].label($0.value))
            }
            if let existing = seen[canonical] {
                for i in runs.indices where runs[i].configuration == existing { runs[i].aliases.append(settings) }
                continue
            }
            let configuration =
                settings.isEmpty ? "base" : settings.map { "\(slug($0.axis))=\(slug($0.value))" }.joined(separator: ",")
            seen[canonical] = configuration
            for seed in seeds {
                var seeded = recipe
                try seeded.set("training.seed", .number(Double(seed)))
                runs.append(
                    SweepRun(
                        name: "\(configuration),seed=\(seed)", configuration: configuration, settings: settings,
                        seed: seed, recipe: try JSONValue.object(seeded).canonical()))
            }
        }
        return runs
    }

    /// The values a run shows in a report for `axis`: its own setting, or the base's.
    public func baseLabel(of axis: Axis, baseRecipe: Data) throws -> String {
        let base = try baseSettings(baseRecipe)
        let fields = try axis.settings(0).keys.sorted()
        let values = fields.map { base.get($0) ?? .null }
        return values.map(\.shown).joined(separator: " / ")
    }
}

extension SweepFile {
    /// The base recipe with the sweep's `base` settings applied: every run starts from it.
    func baseSettings(_ baseRecipe: Data) throws -> [String: JSONValue] {
        guard case .object(var settings) = try JSONValue(json: baseRecipe) else {
            throw DataError(file: recipe, "a recipe is a JSON object")
        }
        for (path, value) in base ?? [:] { try settings.set(path, value) }
        return settings
    }
}

/// A file- and directory-name-safe rendering: letters, digits, '.', '-'.
func slug(_ text: String) -> String {
    let mapped = text.lowercased().map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "-" }
    return String(mapped).split(separator: "-").joined(separator: "-")
}

/// A JSON value, kept as written: what recipes and sweep files hold.
public enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value == value.rounded(), abs(value) < 1e15 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public init(json: Data) throws { self = try JSONDecoder().decode(JSONValue.self, from: json) }

    /// Sorted keys, no whitespace: equal values give equal bytes.
    public func canonical() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// As a report shows it; null is "none" (no limit, no value).
    public var shown: String {
        switch self {
        case .null: return "none"
        case .bool(let value): return value ? "on" : "off"
        case .number(let value):
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let value): return value
        case .array(let values): return values.map(\.shown).joined(separator: ", ")
        case .object(let fields):
            return fields.keys.sorted().map { "\($0)=\(fields[$0]!.shown)" }.joined(separator: ", ")
        }
    }

    /// The value as a number, for plotting a numeric axis.
    public var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }
}

extension [String: JSONValue] {
    /// Sets a dotted path ("lengths.maxLength"), creating sections on the way.
    mutating func set(_ path: String, _ value: JSONValue) throws {
        let parts = path.split(separator: ".").map(String.init)
        guard let first = parts.first else { throw DataError(file: path, "an empty field path") }
        if parts.count == 1 {
            self[first] = value
            return
        }
        var section: [String: JSONValue] = [:]
        switch self[first] {
        case .object(let existing): section = existing
        case nil, .null: break
        default: throw DataError(file: path, "\"\(first)\" is not a section of the recipe")
        }
        try section.set(parts.dropFirst().joined(separator: "."), value)
        self[first] = .object(section)
    }

    func get(_ path: String) -> JSONValue? {
        let parts = path.split(separator: ".").map(String.init)
        guard let first = parts.first, let value = self[first] else { return nil }
        if parts.count == 1 { return value }
        guard case .object(let section) = value else { return nil }
        return section.get(parts.dropFirst().joined(separator: "."))
    }
}

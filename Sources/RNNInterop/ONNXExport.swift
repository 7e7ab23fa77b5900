import Foundation
import RNNBinary
import RNNModel
import RNNSupport
import RNNText

/// A model file as an ONNX model (opset 14), encoded here: the handful of
/// protobuf messages it needs do not justify a protobuf library.
///
/// ids [batch, time] → Gather → Transpose to [time, batch, E] → per layer the
/// ONNX RNN/GRU/LSTM operator (packed models pass `lengths` as `sequence_lens`,
/// so each text's state is taken at its last token, as ours is) → the top
/// layer's Y_h as [batch, directions·H] (forward, then backward), or its Y pooled
/// over the positions that hold a token → Gemm → Softmax (Sigmoid for a multi-label model).
public enum ONNXExport {
    public static let opset = 14

    public static func model(_ classifier: Classifier) -> [UInt8] {
        let a = classifier.architecture
        let packed = classifier.policy.padding == .none
        var graph = Graph()
        let layout = ParameterLayout(a)
        func values(_ name: String) -> ArraySlice<Float> {
            let tensor = layout.tensor(name)
            return classifier.parameters[tensor.offset..<tensor.offset + tensor.count]
        }

        graph.initializer("embedding", shape: [a.vocabularySize, a.embedding], Array(values("embedding")))
        graph.node("Gather", ["embedding", "ids"], ["embedded"])
        graph.node("Transpose", ["embedded"], ["x0"], attributes: [.ints("perm", [1, 0, 2])])
        if packed { graph.node("Cast", ["lengths"], ["sequence_lens"], attributes: [.int("to", Graph.int32)]) }
        if a.layers > 1 || a.pooling != .last { graph.initializer64("flatten_directions", [0, 0, -1]) }
        graph.initializer64("flatten_features", [0, -1])

        let operatorName = ["rnn": "RNN", "gru": "GRU", "lstm": "LSTM"][a.cell.rawValue]!
        var input = "x0"
        for layer in 0..<a.layers {
            var w: [Float] = [], r: [Float] = [], b: [Float] = []
            for direction in 0..<a.directions {
                let prefix = ParameterLayout.prefix(layer: layer, direction: direction)
                w += onnxGateOrder(values(prefix + "w_ih"), cell: a.cell)
                r += onnxGateOrder(values(prefix + "w_hh"), cell: a.cell)
                b +=
                    onnxGateOrder(values(prefix + "b_ih"), cell: a.cell)
                    + onnxGateOrder(values(prefix + "b_hh"), cell: a.cell)
            }
            let name = "l\(layer)"
            graph.initializer("\(name).W", shape: [a.directions, a.gateWidth, a.inputWidth(layer: layer)], w)
            graph.initializer("\(name).R", shape: [a.directions, a.gateWidth, a.hidden], r)
            graph.initializer("\(name).B", shape: [a.directions, 2 * a.gateWidth], b)
            var attributes: [Graph.Attribute] = [
                .int("hidden_size", a.hidden), .string("direction", a.bidirectional ? "bidirectional" : "forward"),
            ]
            if a.cell == .gru { attributes.append(.int("linear_before_reset", 1)) }
            let outputs = a.cell == .lstm ? ["\(name).Y", "\(name).Y_h", "\(name).Y_c"] : ["\(name).Y", "\(name).Y_h"]
            graph.node(
                operatorName, [input, "\(name).W", "\(name).R", "\(name).B"] + (packed ? ["sequence_lens"] : []),
                outputs, attributes: attributes)
            if layer + 1 < a.layers {
                // Y [time, directions, batch, H] → [time, batch, directions·H]: forward features first, as PyTorch.
                graph.node("Transpose", ["\(name).Y"], ["\(name).Y_t"], attributes: [.ints("perm", [0, 2, 1, 3])])
                graph.node("Reshape", ["\(name).Y_t", "flatten_directions"], ["x\(layer + 1)"])
                input = "x\(layer + 1)"
            }
        }
        if a.pooling == .last {
            graph.node("Transpose", ["l\(a.layers - 1).Y_h"], ["state"], attributes: [.ints("perm", [1, 0, 2])])
            graph.node("Reshape", ["state", "flatten_features"], ["features"])
        } else {
            pool(
                a, states: "l\(a.layers - 1).Y", packed: packed,
                query: a.pooling == .attention ? Array(values("attention.query")) : [],
                &graph)
        }
        graph.initializer("head.weight", shape: [a.classes, a.featureWidth], Array(values("head.weight")))
        graph.initializer("head.bias", shape: [a.classes], Array(values("head.bias")))
        graph.node("Gemm", ["features", "head.weight", "head.bias"], ["logits"], attributes: [.int("transB", 1)])
        switch a.output {
        case .softmax: graph.node("Softmax", ["logits"], ["probabilities"], attributes: [.int("axis", 1)])
        case .sigmoid: graph.node("Sigmoid", ["logits"], ["probabilities"])
        }

        var inputs = [
            Graph.ValueInfo(name: "ids", type: Graph.int64, shape: [.parameter("batch"), .parameter("time")])
        ]
        if packed { inputs.append(.init(name: "lengths", type: Graph.int64, shape: [.parameter("batch")])) }
        let outputs = [
            Graph.ValueInfo(name: "probabilities", type: Graph.float, shape: [.parameter("batch"), .value(a.classes)])
        ]

        var model = Protobuf()
        model.int(1, 8)  // ir_version 8 (ONNX 1.10+)
        model.string(2, "rnnkit")
        model.string(3, "\(rnnkitVersion)")
        model.message(7) { graph.encode(into: &$0, name: "rnnkit", inputs: inputs, outputs: outputs) }
        model.message(8) {  // opset_import: the default domain
            $0.string(1, "")
            $0.int(2, opset)
        }
        let settings = ClassifierSettings(
            labels: classifier.labels, policy: classifier.policy, pooling: a.pooling, output: a.output,
            threshold: classifier.threshold)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: (try? encoder.encode(settings)) ?? Data(), as: UTF8.self)
        model.message(14) {  // metadata_props: what the graph cannot say
            $0.string(1, "rnnkit.classifier")
            $0.string(2, json)
        }
        return model.bytes
    }

    /// "features" [batch, F]: the top layer's Y [time, directions, batch, H] pooled over each text's
    /// positions that hold a token (not the padding id; within `lengths` when packed), as Pooling.swift
    /// does; zero for a text with none (where a max or softmax would be -inf or NaN).
    static func pool(_ a: Architecture, states y: String, packed: Bool, query: [Float], _ graph: inout Graph) {
        graph.node("Transpose", [y], ["states_t"], attributes: [.ints("perm", [2, 0, 1, 3])])
        graph.node("Reshape", ["states_t", "flatten_directions"], ["states"])  // [batch, time, F]
        graph.initializer64("padding_id", [Int64(a.paddingID)])
        graph.initializer64("axis_time", [1])
        graph.initializer64("axis_last", [2])
        graph.initializer("zero", shape: [1], [0])
        graph.initializer("one", shape: [1], [1])
        graph.initializer("minus_infinity", shape: [1], [-Float.infinity])
        graph.node("Equal", ["ids", "padding_id"], ["is_padding"])
        graph.node("Not", ["is_padding"], [packed ? "is_token" : "mask"])
        if packed {
            graph.initializer64("scalar_zero", [0], shape: [])
            graph.initializer64("scalar_one", [1], shape: [])
            graph.node("Shape", ["ids"], ["ids_shape"])
            graph.node("Gather", ["ids_shape", "scalar_one"], ["time"], attributes: [.int("axis", 0)])
            graph.node("Range", ["scalar_zero", "time", "scalar_one"], ["positions"])
            graph.node("Unsqueeze", ["lengths", "axis_time"], ["lengths_column"])
            graph.node("Less", ["positions", "lengths_column"], ["within_length"])
            graph.node("And", ["is_token", "within_length"], ["mask"])
        }
        graph.node("Unsqueeze", ["mask", "axis_last"], ["mask_3d"])  // [batch, time, 1]
        graph.node("Cast", ["mask"], ["mask_float"], attributes: [.int("to", Graph.float)])
        graph.node("ReduceSum", ["mask_float", "axis_time"], ["count"], attributes: [.int("keepdims", 1)])
        graph.node("Greater", ["count", "zero"], ["has_tokens"])  // [batch, 1]
        switch a.pooling {
        case .last: preconditionFailure("the last state is Y_h")
        case .max:
            graph.node("Where", ["mask_3d", "states", "minus_infinity"], ["masked"])
            graph.node("ReduceMax", ["masked"], ["largest"], attributes: [.ints("axes", [1]), .int("keepdims", 0)])
            graph.node("Where", ["has_tokens", "largest", "zero"], ["features"])
        case .mean:
            graph.node("Cast", ["mask_3d"], ["mask_3d_float"], attributes: [.int("to", Graph.float)])
            graph.node("Mul", ["states", "mask_3d_float"], ["masked"])
            graph.node("ReduceSum", ["masked", "axis_time"], ["sum"], attributes: [.int("keepdims", 0)])
            graph.node("Max", ["count", "one"], ["divisor"])
            graph.node("Div", ["sum", "divisor"], ["features"])
        case .attention:
            graph.initializer("attention.query", shape: [a.featureWidth, 1], query)
            graph.node("MatMul", ["states", "attention.query"], ["scores"])  // [batch, time, 1]
            graph.node("Where", ["mask_3d", "scores", "minus_infinity"], ["masked_scores"])
            graph.node("Softmax", ["masked_scores"], ["weights"], attributes: [.int("axis", 1)])
            graph.node("Mul", ["states", "weights"], ["weighted"])
            graph.node("ReduceSum", ["weighted", "axis_time"], ["weighted_sum"], attributes: [.int("keepdims", 0)])
            graph.node("Where", ["has_tokens", "weighted_sum", "zero"], ["features"])
        }
    }

    /// Our (PyTorch's) gate blocks in ONNX's order: GRU r|z|n → z|r|h, LSTM i|f|g|o → i|o|f|c.
    static func onnxGateOrder(_ rows: ArraySlice<Float>, cell: CellKind) -> [Float] {
        let order: [Int]
        switch cell {
        case .rnn: order = [0]
        case .gru: order = [1, 0, 2]
        case .lstm: order = [0, 3, 1, 2]
        }
        let block = rows.count / order.count
        let base = rows.startIndex
        return order.flatMap { rows[(base + $0 * block)..<(base + ($0 + 1) * block)] }
    }
}

/// An ONNX GraphProto under construction: nodes and initializers in order.
struct Graph {
    static let float = 1, int32 = 6, int64 = 7

    enum Attribute {
        case int(String, Int)
        case ints(String, [Int])
        case string(String, String)
    }

    enum Dimension {
        case value(Int)
        case parameter(String)
    }

    struct ValueInfo {
        var name: String
        var type: Int
        var shape: [Dimension]
    }

    private var nodes = Protobuf()
    private var initializers = Protobuf()
    private var nodeCount = 0

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], attributes: [Attribute] = []) {
        nodeCount += 1
        nodes.message(1) { node in
            for input in inputs { node.string(1, input) }
            for output in outputs { node.string(2, output) }
            node.string(3, "\(op.lowercased())_\(nodeCount)")
            node.string(4, op)
            for attribute in attributes {
                node.message(5) { a in
                    switch attribute {
                    case .int(let name, let value):
                        a.string(1, name)
                        a.int(3, value)
                        a.int(20, 2)  // INT
                    case .ints(let name, let values):
                        a.string(1, name)
                        for value in values { a.int(8, value) }
                        a.int(20, 7)  // INTS
                    case .string(let name, let value):
                        a.string(1, name)
                        a.string(4, value)
                        a.int(20, 3)  // STRING
                    }
                }
            }
        }
    }

    mutating func initializer(_ name: String, shape: [Int], _ values: [Float]) {
        initializers.message(5) { t in
            for dimension in shape { t.int(1, dimension) }
            t.int(2, Graph.float)
            t.string(8, name)
            var raw: [UInt8] = []
            raw.reserveCapacity(4 * values.count)
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { raw += $0 } }
            t.bytes(9, raw)
        }
    }

    /// shape: one dimension of `values.count` unless given ([] for a scalar).
    mutating func initializer64(_ name: String, _ values: [Int64], shape: [Int]? = nil) {
        initializers.message(5) { t in
            for dimension in shape ?? [values.count] { t.int(1, dimension) }
            t.int(2, Graph.int64)
            t.string(8, name)
            var raw: [UInt8] = []
            for value in values { withUnsafeBytes(of: value.littleEndian) { raw += $0 } }
            t.bytes(9, raw)
        }
    }

    func encode(into graph: inout Protobuf, name: String, inputs: [ValueInfo], outputs: [ValueInfo]) {
        graph.append(nodes)
        graph.string(2, name)
        graph.append(initializers)
        for (field, infos) in [(11, inputs), (12, outputs)] {
            for info in infos {
                graph.message(field) { v in
                    v.string(1, info.name)
                    v.message(2) { type in
                        type.message(1) { tensor in
                            tensor.int(1, info.type)
                            tensor.message(2) { shape in
                                for dimension in info.shape {
                                    shape.message(1) { d in
                                        switch dimension {
                                        case .value(let value): d.int(1, value)
                                        case .parameter(let name): d.string(2, name)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Protocol-buffer wire format, writing only: varints (wire type 0) and
/// length-delimited fields (wire type 2) are all ONNX's messages need here.
struct Protobuf {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// An int32/int64 field; negative values take ten bytes, as the format says.
    mutating func int(_ field: Int, _ value: Int) {
        varint(UInt64(field << 3))
        varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        varint(UInt64(field << 3 | 2))
        varint(UInt64(value.count))
        bytes += value
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ build: (inout Protobuf) -> Void) {
        var inner = Protobuf()
        build(&inner)
        bytes(field, inner.bytes)
    }

    /// Fields already encoded elsewhere, e.g. a list of repeated messages.
    mutating func append(_ other: Protobuf) { bytes += other.bytes }
}

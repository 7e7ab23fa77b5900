import RNNBinary

extension Classifier {
    /// Whether the model file stores int8 matrices.
    public var isQuantized: Bool { file.tensors.contains { $0.int8 != nil } }

    /// This model's file with its matrices — the embedding, every W_ih and W_hh,
    /// the head's weight — in int8 with one f32 scale per output unit (`<name>.scale`):
    /// per row of a weight matrix [out, in], per column of the embedding [V, E]
    /// (its E outputs; a scale per token would add a twelfth to a 32-wide table).
    /// Each scale is the largest |w| of its unit / 127, and the unit's values are
    /// round(w / scale). Biases stay f32; the state and every activation stay f32
    /// at inference, only the recurrent product rounds the state to int16 (see QuantizedStep).
    public func quantizedFile() -> ModelFile {
        var quantized = file
        quantized.tensors = file.tensors.flatMap { tensor -> [ModelFile.Tensor] in
            guard tensor.shape.count == 2, tensor.int8 == nil, !tensor.values.isEmpty else { return [tensor] }
            let columns = tensor.shape[1]
            let units = Self.quantizationUnits(tensor.name, shape: tensor.shape)
            let perColumn = Self.scalesColumns(tensor.name)
            var scales = [Float](repeating: 0, count: units)
            for (i, value) in tensor.values.enumerated() {
                let unit = perColumn ? i % columns : i / columns
                scales[unit] = max(scales[unit], abs(value) / 127)
            }
            let values = tensor.values.enumerated().map { i, value -> Int8 in
                let scale = scales[perColumn ? i % columns : i / columns]
                return scale > 0 ? Int8((value / scale).rounded()) : 0
            }
            return [
                ModelFile.Tensor(name: tensor.name, shape: tensor.shape, int8: values),
                ModelFile.Tensor(name: tensor.name + ".scale", shape: [units], values: scales),
            ]
        }
        return quantized
    }

    /// Whether an int8 matrix has a scale per column (the embedding) rather than per row.
    static func scalesColumns(_ name: String) -> Bool { name == "embedding" }

    /// How many scales an int8 matrix has.
    static func quantizationUnits(_ name: String, shape: [Int]) -> Int { scalesColumns(name) ? shape[1] : shape[0] }
}

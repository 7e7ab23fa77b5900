import ArgumentParser
import Foundation
import RNNData
import RNNSupport

extension PrepCommand {
    struct IMDB: DatasetCommand {
        static let configuration = CommandConfiguration(
            commandName: "imdb",
            abstract: "Prepare the Large Movie Review Dataset straight from aclImdb_v1.tar.gz (no unpacking).",
            discussion: "Labels: neg=0, pos=1 from the folder; the star rating from the file name is kept per example.")

        @Argument(help: "The tarball (default: $RNNKIT_DATA/aclImdb_v1.tar.gz).")
        var tarball: String?

        @Flag(help: "Also store train/unsup as an unlabeled split.")
        var includeUnsup = false

        @OptionGroup var common: CommonOptions

        var datasetName: String { "imdb" }
        var defaultRecipe: String { "imdb" }

        func readers() throws -> [ExampleReader] {
            let path = try DataDirectory.require(
                tarball ?? DataDirectory.url.appendingPathComponent("aclImdb_v1.tar.gz").path,
                what: "the IMDB tarball aclImdb_v1.tar.gz")
            return [try IMDBReader(path: path, includeUnlabeled: includeUnsup)]
        }
    }

    struct AGNews: DatasetCommand {
        static let configuration = CommandConfiguration(
            commandName: "agnews",
            abstract:
                "Prepare AG News from its original CSV (class,title,description), or the Hugging Face CSV (text,label) or Parquet export.",
            discussion:
                "The split comes from each file name (train…, test…) unless --split is given. Class names come from classes.txt beside the file when present."
        )

        @Argument(
            help:
                "CSV or Parquet files, e.g. train.csv test.csv or train-00000-of-00001.parquet test-00000-of-00001.parquet."
        )
        var files: [String]

        @Option(help: "The split of every file given (default: from the file names).")
        var split: String?

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if files.isEmpty {
                throw ValidationError(
                    "give at least one AG News file (e.g. data/agnews/train.csv data/agnews/test.csv)")
            }
        }

        var datasetName: String { "agnews" }
        var defaultRecipe: String { "agnews" }

        func readers() throws -> [ExampleReader] {
            return try files.map { file -> ExampleReader in
                let path = try DataDirectory.require(file, what: "the AG News file")
                if path.hasSuffix(".parquet") {
                    return try ParquetTableReader(
                        path: path, split: split, textColumns: [.name("text")], labelColumn: .name("label"),
                        fallbackNames: AGNewsCSVReader.defaultLabelNames)
                }
                return try AGNewsCSVReader(path: path, split: split)
            }
        }
    }

    struct Parquet: DatasetCommand {
        static let configuration = CommandConfiguration(
            commandName: "parquet",
            abstract: "Prepare any Parquet table with a text column and a label column.",
            discussion:
                "Integer labels are named by --label-names, else by the file's Hugging Face ClassLabel metadata, else taken as text; text labels are taken as they are (the label set is then the training split's)."
        )

        @Argument(
            help: "Parquet files; the split comes from a word of each name (train, test) unless --split is given.")
        var files: [String] = []

        @OptionGroup var named: SplitFiles

        @Option(help: "A text column: a name or a 0-based index; repeat it to join several with a space.")
        var textColumn: [String] = []

        @Option(help: "The label column: a name or a 0-based index.")
        var labelColumn: String

        @Option(help: "Names of integer labels 0, 1, …, comma-separated.")
        var labelNames: String?

        @Option(help: "Dataset name, used for the default output directory.")
        var name = "parquet"

        @Option(help: "The split of every file given (default: from the file names).")
        var split: String?

        @Flag(help: "Fail on a row whose text is null instead of skipping it.")
        var strict = false

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if named.all(files, split: split).isEmpty { throw ValidationError("give at least one Parquet file") }
            if textColumn.isEmpty { throw ValidationError("give --text-column (a column name or a 0-based index)") }
        }

        var datasetName: String { name }
        var defaultRecipe: String { "csv" }

        func readers() throws -> [ExampleReader] {
            return try named.all(files, split: split).map {
                try ParquetTableReader(
                    path: $0.path, split: $0.split, textColumns: textColumn.map(ColumnReference.init),
                    labelColumn: ColumnReference(labelColumn),
                    explicitNames: labelNames.map { $0.split(separator: ",").map(String.init) }, strict: strict)
            }
        }
    }

    struct CSV: DatasetCommand {
        static let configuration = CommandConfiguration(
            commandName: "csv",
            abstract: "Prepare any CSV or TSV (any one-character delimiter) with text columns and a label column.",
            discussion: """
                Files may be gzip or zstd compressed (told from their bytes). Labels are taken as text; the label set \
                is the training split's, in numeric order when all labels are integers, else sorted. A test label not \
                seen in training is an error.
                """
        )

        @Argument(help: "CSV files; the split comes from a word of each name (train, test) unless --split is given.")
        var files: [String] = []

        @OptionGroup var named: SplitFiles

        @Option(help: "A text column: a header name or a 0-based index; repeat it to join several with a space.")
        var textColumn: [String] = []

        @Option(help: "The label column: a header name or a 0-based index.")
        var labelColumn: String

        @Option(
            help: ArgumentHelp(
                "Columns holding a teacher's probabilities, comma-separated, one per class in the dataset's label order: train learns from them (distillation). Read from training files only; validation and test are scored against --label-column.",
                valueName: "p0,p1,…"))
        var softLabelColumns: String?

        @Option(
            help:
                "A character separating several labels in the label column (e.g. '|'): the dataset is then multi-label (train --loss ova)."
        )
        var labelSeparator: String?

        @Option(help: "The field delimiter: one ASCII character, or tab (default: tab for .tsv files, else a comma).")
        var delimiter: String?

        @Flag(
            inversion: .prefixedNo,
            help:
                "Whether double quotes enclose fields (RFC 4180); with --no-quoting a quote is ordinary text (default: quoting, except for tab-delimited files)."
        )
        var quoting: Bool?

        @Option(help: "Dataset name, used for the default output directory.")
        var name = "csv"

        @Flag(
            inversion: .prefixedNo,
            help: "Whether the first row is a header (default: yes when a column is given by name).")
        var header: Bool?

        @Option(help: "The split of every file given (default: from the file names).")
        var split: String?

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if named.all(files, split: split).isEmpty { throw ValidationError("give at least one CSV file") }
            if textColumn.isEmpty { throw ValidationError("give --text-column (a header name or a 0-based index)") }
            if let softLabelColumns,
                softLabelColumns.split(separator: ",", omittingEmptySubsequences: false).count < 2
                    || softLabelColumns.split(separator: ",", omittingEmptySubsequences: false).contains(
                        where: \.isEmpty)
            {
                throw ValidationError(
                    "--soft-label-columns \"\(softLabelColumns)\": expected at least two comma-separated columns, one per class"
                )
            }
            if let delimiter { _ = try Self.delimiterByte(delimiter) }
            if let labelSeparator { _ = try Self.separatorByte(labelSeparator) }
        }

        static func separatorByte(_ argument: String) throws -> UInt8 {
            guard argument.utf8.count == 1, let byte = argument.utf8.first, byte < 0x80 else {
                throw ValidationError(
                    "--label-separator \"\(argument)\" is not one ASCII character (expected e.g. | or ;)")
            }
            return byte
        }

        static func delimiterByte(_ argument: String) throws -> UInt8 {
            guard let byte = CSVTableReader.delimiter(argument) else {
                throw ValidationError(
                    "--delimiter \"\(argument)\" is not one ASCII character (expected e.g. , ; | or tab; not a quote or a newline)"
                )
            }
            return byte
        }

        var datasetName: String { name }
        var defaultRecipe: String { "csv" }

        func readers() throws -> [ExampleReader] {
            return try named.all(files, split: split).map { file in
                let separator =
                    try delimiter.map(Self.delimiterByte) ?? CSVTableReader.defaultDelimiter(forPath: file.path)
                return try CSVTableReader(
                    path: file.path, split: file.split, textColumns: textColumn.map(ColumnReference.init),
                    labelColumn: ColumnReference(labelColumn), hasHeader: header, delimiter: separator,
                    quoted: quoting, labelSeparator: try labelSeparator.map(Self.separatorByte),
                    softLabelColumns: softLabelColumns.map {
                        $0.split(separator: ",", omittingEmptySubsequences: false).map { ColumnReference(String($0)) }
                    } ?? [])
            }
        }
    }

    struct JSONLines: DatasetCommand {
        static let configuration = CommandConfiguration(
            commandName: "jsonl",
            abstract: "Prepare JSON lines: one object per line with text fields and a label field.",
            discussion: """
                Fields are named by dotted paths into nested objects (meta.title; an array element by its index, \
                sentences.0). A label may be a string, a number (taken as written), a boolean, or an array of those: several labels \
                make the dataset multi-label (train --loss ova). \
                Files may be gzip or zstd compressed (told from their bytes).
                """
        )

        @Argument(
            help: "JSON-lines files; the split comes from a word of each name (train, test) unless --split is given.")
        var files: [String] = []

        @OptionGroup var named: SplitFiles

        @Option(help: "A text field (dotted path); repeat it to join several with a space.")
        var textField: [String] = []

        @Option(help: "The label field (dotted path).")
        var labelField: String

        @Option(
            help:
                "A field (dotted path) holding a teacher's probabilities, an array with one per class in the dataset's label order: train learns from them (distillation). Read from training files only; validation and test are scored against --label-field."
        )
        var softLabelField: String?

        @Option(help: "Dataset name, used for the default output directory.")
        var name = "jsonl"

        @Option(help: "The split of every file given (default: from the file names).")
        var split: String?

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if named.all(files, split: split).isEmpty { throw ValidationError("give at least one JSON-lines file") }
            if textField.isEmpty { throw ValidationError("give --text-field (a field name or dotted path)") }
        }

        var datasetName: String { name }
        var defaultRecipe: String { "csv" }

        func readers() throws -> [ExampleReader] {
            return try named.all(files, split: split).map {
                try JSONLinesReader(
                    path: $0.path, split: $0.split, textFields: textField, labelField: labelField,
                    softLabelField: softLabelField)
            }
        }
    }

    struct FastText: DatasetCommand {
        static let configuration = CommandConfiguration(
            commandName: "fasttext",
            abstract: "Prepare fastText's supervised format: __label__<name> before each line's text.",
            discussion: """
                Several labels on a line make the dataset multi-label (train --loss ova). Files may be gzip or \
                zstd compressed (told from their bytes).
                """
        )

        @Argument(
            help: "fastText files; the split comes from a word of each name (train, test) unless --split is given.")
        var files: [String] = []

        @OptionGroup var named: SplitFiles

        @Option(help: "The prefix that marks a label word (fastText's -label).")
        var labelPrefix = "__label__"

        @Option(help: "Dataset name, used for the default output directory.")
        var name = "fasttext"

        @Option(help: "The split of every file given (default: from the file names).")
        var split: String?

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if named.all(files, split: split).isEmpty { throw ValidationError("give at least one fastText file") }
            if labelPrefix.isEmpty { throw ValidationError("--label-prefix must not be empty") }
        }

        var datasetName: String { name }
        var defaultRecipe: String { "csv" }

        func readers() throws -> [ExampleReader] {
            return try named.all(files, split: split).map {
                try FastTextReader(path: $0.path, split: $0.split, labelPrefix: labelPrefix)
            }
        }
    }
}

/// Files whose split is given by the option that names them, whatever they are called.
struct SplitFiles: ParsableArguments {
    @Option(help: "A training file, any name (repeatable).")
    var train: [String] = []

    @Option(
        help:
            "A validation file (repeatable): train then selects its epochs on it instead of holding out part of train.")
    var validation: [String] = []

    @Option(help: "A test file, any name (repeatable).")
    var test: [String] = []

    /// The positional files (split from --split or their names), then these with theirs.
    func all(_ files: [String], split: String?) -> [(path: String, split: String?)] {
        files.map { ($0, split) } + train.map { ($0, "train") } + validation.map { ($0, "validation") }
            + test.map { ($0, "test") }
    }
}

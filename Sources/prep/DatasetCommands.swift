import ArgumentParser
import Foundation
import RNNData

extension PrepCommand {
    struct IMDB: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "imdb",
            abstract: "Prepare the Large Movie Review Dataset straight from aclImdb_v1.tar.gz (no unpacking).",
            discussion: "Labels: neg=0, pos=1 from the folder; the star rating from the file name is kept per example.")

        @Argument(help: "The tarball (default: $RNNKIT_DATA/aclImdb_v1.tar.gz).")
        var tarball: String?

        @Flag(help: "Also store train/unsup as an unlabeled split.")
        var includeUnsup = false

        @OptionGroup var common: CommonOptions

        func run() throws {
            try common.run(dataset: "imdb", defaultRecipe: "imdb") {
                let path = try DataDirectory.require(tarball ?? DataDirectory.url.appendingPathComponent("aclImdb_v1.tar.gz").path,
                                                     what: "the IMDB tarball aclImdb_v1.tar.gz")
                return [try IMDBReader(path: path, includeUnlabeled: includeUnsup)]
            }
        }
    }

    struct AGNews: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "agnews",
            abstract: "Prepare AG News from its original CSV (class,title,description) or the Hugging Face CSV export (text,label).",
            discussion: "The split comes from each file name (train…, test…) unless --split is given. Class names come from classes.txt beside the file when present.")

        @Argument(help: "CSV files, e.g. train.csv test.csv.")
        var files: [String]

        @Option(help: "The split of every file given (default: from the file names).")
        var split: String?

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if files.isEmpty { throw ValidationError("give at least one AG News file (e.g. data/agnews/train.csv data/agnews/test.csv)") }
        }

        func run() throws {
            try common.run(dataset: "agnews", defaultRecipe: "agnews") {
                try files.map { try AGNewsCSVReader(path: try DataDirectory.require($0, what: "the AG News CSV file"), split: split) }
            }
        }
    }

    struct CSV: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "csv",
            abstract: "Prepare any CSV with a text column and a label column.",
            discussion: "Labels are taken as text; the label set is the training split's, in numeric order when all labels are integers, else sorted. A test label not seen in training is an error.")

        @Argument(help: "CSV files; the split comes from each name (train…, test…) unless --split is given.")
        var files: [String]

        @Option(help: "The text column: a header name or a 0-based index.")
        var textColumn: String

        @Option(help: "The label column: a header name or a 0-based index.")
        var labelColumn: String

        @Option(help: "Dataset name, used for the default output directory.")
        var name = "csv"

        @Flag(inversion: .prefixedNo, help: "Whether the first row is a header (default: yes when a column is given by name).")
        var header: Bool?

        @Option(help: "The split of every file given (default: from the file names).")
        var split: String?

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if files.isEmpty { throw ValidationError("give at least one CSV file") }
        }

        func run() throws {
            try common.run(dataset: name, defaultRecipe: "csv") {
                try files.map {
                    try CSVTableReader(path: $0, split: split, textColumn: ColumnReference(textColumn),
                                       labelColumn: ColumnReference(labelColumn), hasHeader: header)
                }
            }
        }
    }
}

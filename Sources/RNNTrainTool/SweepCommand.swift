import ArgumentParser
import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNSupport
import RNNTrain
import RNNTrainOptions

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a sweep file's runs (resumably) and write its report.",
        discussion: """
            A sweep file (e.g. Pipelines/imdb-investigation.json; format in Artifacts/sweep-format.md) names a base \
            recipe, the prep command, the axes to vary and the seeds. Each run trains into --out/<run>/ with its own \
            recipe.json; runs already finished are skipped and a killed run resumes from its checkpoint. Prep runs \
            once per distinct tokenizer setting, into --out/prep/. Writes --out/report.md and --out/report.html.
            """)

    @OptionGroup var options: SweepOptions

    func run() throws {
        OpenBLASCorrection.correctFallback()
        setvbuf(stdout, nil, _IOLBF, 0)
        try reportingErrors { try options.makeRunner().run() }
    }
}

import ArgumentParser

/// The `kiln` command line: one binary that serves, generates and benchmarks.
@main
struct Kiln: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "An inference server for language and image models.",
        subcommands: [
            ServeCommand.self,
            RenderTemplateCommand.self,
            TokenizeCommand.self,
            DetokenizeCommand.self,
            BenchKernelsCommand.self,
            ImageCommand.self,
            BenchImageCommand.self,
            GenerateCommand.self,
            BenchCommand.self,
            EmbedCommand.self,
        ])
}

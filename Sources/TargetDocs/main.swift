// wisp-target-docs: writes the compatibility matrix, generated from the target model.
//
//   wisp-target-docs [--format markdown|json|docc] [PATH]
//
// markdown (default): docs/target-model.md; json: docs/target-model.json (schema: docs/target-model-schema.md);
// docc: the article of the WispSimulatorTargetModel catalogue. PATH overrides the file; `-` writes to standard
// output.
import Glibc
import WispSimulatorTargetModel

/// Writes `text` to a descriptor (1: standard output, 2: standard error).
func emit(_ text: String, to descriptor: Int32) {
  var text = text
  text.withUTF8 { bytes in _ = write(descriptor, bytes.baseAddress, bytes.count) }
}

var arguments = Array(CommandLine.arguments.dropFirst())
var format = "markdown"
if let index = arguments.firstIndex(of: "--format"), index + 1 < arguments.count {
  format = arguments[index + 1]
  arguments.removeSubrange(index...(index + 1))
}
let outputs: [String: (path: String, text: () -> String)] = [
  "markdown": ("docs/target-model.md", TargetModelDocs.markdown),
  "json": ("docs/target-model.json", TargetModelJSON.document),
  "docc": (
    "Sources/SimulatorTargetModel/WispSimulatorTargetModel.docc/CompatibilityFacts.md", TargetModelDocs.doccArticle
  ),
]
guard let output = outputs[format] else {
  emit("wisp-target-docs: --format must be markdown, json or docc\n", to: 2)
  exit(64)
}
let path = arguments.first ?? output.path
if path == "-" {
  emit(output.text(), to: 1)
  exit(0)
}
guard let file = fopen(path, "w") else {
  emit("wisp-target-docs: cannot write \(path)\n", to: 2)
  exit(1)
}
fputs(output.text(), file)
fclose(file)
print("wrote \(path)")

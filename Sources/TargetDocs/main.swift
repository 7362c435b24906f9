// wisp-target-docs: writes the compatibility matrix and per-target notes, generated from the target model, to
// docs/target-model.md (or the path given as the first argument).
import Glibc
import WispSimulatorTargetModel

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "docs/target-model.md"
guard let file = fopen(path, "w") else {
  print("wisp-target-docs: cannot write \(path)")
  exit(1)
}
fputs(TargetModelDocs.markdown(), file)
fclose(file)
print("wrote \(path)")

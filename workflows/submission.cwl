#!/usr/bin/env cwl-runner
# One submission image, run as the RA2 organisers ran them: /test (and, when given, /train) placed
# read-only, /output the only writable folder besides /tmp, no network (cwltool and Toil give a job
# no network unless it asks for NetworkAccess), a read-only root file system, a time limit.
cwlVersion: v1.2
class: CommandLineTool
label: run one submission image on a test folder
doc: |
  The image's entry point is named here (`entrypoint`, default /opt/ra2/run.sh, the project's own)
  because Singularity and Apptainer ignore an image's ENTRYPOINT. It runs under `env` with HOME set to
  the job's scratch folder: the CWL runners set HOME to the output folder, where a library's caches
  (Matplotlib, Keras) would land beside the predictions. `predictions` is absent when the image
  wrote no /output/predictions.csv. The image is `ra2-submission` unless the job's
  `cwltool:overrides` (or `--overrides`) name another: DockerRequirement takes no expressions.
  GPUs: evaluate-gpu.cwl.

requirements:
  DockerRequirement:
    dockerPull: ra2-submission
    dockerOutputDirectory: /output
  InitialWorkDirRequirement:
    listing:
      - entryname: /test
        entry: $(inputs.test)
        writable: false
      - entryname: /train
        entry: $(inputs.train)
        writable: false
  ToolTimeLimit:
    timelimit: $(inputs.time_limit)
  # CPUs from an input: the challenge gave 8. Being an expression, it also makes Toil (9.6) resolve the
  # step's inputs before it evaluates the time limit, which it otherwise evaluates too early and fails.
  ResourceRequirement:
    coresMin: $(inputs.cores)

inputs:
  test:
    type: Directory
    doc: test images and template.csv, placed at /test (read-only)
  train:
    type: Directory?
    doc: training folder, placed at /train (read-only) when given
  # No defaults here: Toil (9.6) evaluates ToolTimeLimit before it resolves the defaults of a step's inputs
  # and fails; evaluate.cwl holds them.
  time_limit:
    type: int
    doc: seconds the run may take (evaluate.cwl's default 172800, the final round's 48 h); 0 for none
  entrypoint:
    type: string
    doc: the program the image runs, its entry point (evaluate.cwl's default /opt/ra2/run.sh, the project's)
  cores:
    type: int
    doc: CPUs the run gets (evaluate.cwl's default 1; the final round gave 8)
  gpus:
    type: int?
    doc: GPUs the run gets; only evaluate-gpu.cwl sets it

baseCommand: [env]
arguments:
  - HOME=$(runtime.tmpdir)
  - $(inputs.entrypoint)

stdout: submission.log
stderr: submission.stderr.log

outputs:
  predictions:
    type: File?
    outputBinding:
      glob: predictions.csv
  log:
    type: File
    outputBinding:
      glob: submission.log
  stderr_log:
    type: File
    outputBinding:
      glob: submission.stderr.log

"""Half price when it can wait: the OpenAI Batch API, driven from one input file.

    surge batch submit in.jsonl -o out.jsonl     # split, upload, create batches
    surge batch status -o out.jsonl              # how far each batch got
    surge batch fetch -o out.jsonl               # merge output and error files into out.jsonl
    surge batch run in.jsonl -o out.jsonl --then-online   # all of it, then the rest online

Modules: ``split`` (pieces of at most 50,000 requests / 200 MB, one endpoint and model
each), ``client`` (Files and Batches calls), ``state`` (the resumable local record),
``merge`` (output/error lines to results), ``workflow`` (the steps, each idempotent).
"""

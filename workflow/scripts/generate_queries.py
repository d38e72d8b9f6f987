from rankdistill.config.settings import QuerySetSettings
from rankdistill.datasets.generated import build_generated_query_set
from rankdistill.workflow import run

s = QuerySetSettings(**snakemake.params.settings)
exclude = [(label, path, depth) for (label, depth), path in zip(snakemake.params.exclude, snakemake.input.exclude)]
examples = None
if "examples_queries" in snakemake.input.keys():
    examples = (snakemake.input.examples_queries, snakemake.input.examples_qrels, snakemake.input.examples_docstore)
run(snakemake, build_generated_query_set, s.spec, snakemake.wildcards.query_set, snakemake.input.docstore,
    snakemake.output.queries, snakemake.output.qrels, snakemake.output.stats, exclude=exclude,
    openings_queries=snakemake.input.get("openings"), examples=examples,
    filter_index=snakemake.input.get("filter_index"), filter_bm25=snakemake.params.filter_bm25,
    convert_dir=snakemake.params.convert_dir, threads=snakemake.threads)

from rankdistill.config.settings import CpuConversionSettings
from rankdistill.students.cpu import convert
from rankdistill.workflow import run

s = CpuConversionSettings(**snakemake.params.settings).kwargs()
run(snakemake, convert, s.pop("model"), snakemake.output.model, s.pop("engine"), threads=snakemake.threads, **s)

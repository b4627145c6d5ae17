"""Synthetic region generator with defect injection and ground truth (see generator.generate_region)."""
from flows.synth.generator import GenerateResult, generate_region

__all__ = ["GenerateResult", "generate_region"]

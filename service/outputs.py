"""What the explained outputs are called: `scoring.outputs.Outputs`, shared with the batch job."""

from __future__ import annotations

from scoring.outputs import Outputs

__all__ = ["Outputs"]

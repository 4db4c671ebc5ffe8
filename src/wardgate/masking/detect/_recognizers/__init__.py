"""One recognizer per module; `wardgate.masking.detect._base.registered` imports them all."""

"""Scaling-law floors: the model-size sweep, WSD cool-downs, the L(N, D) law and its fit, `audiobits scaling` and
`audiobits calibrate`."""

"""The instrument: the annular detector's model and the profiles of real microscopes (their
menus and detector constants). The simulator, `calibrate` and the dose transfer share it;
it needs no part of the simulator."""

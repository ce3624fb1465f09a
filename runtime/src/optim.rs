//! Optimizers (SGD, Adam(W), Lion, Sophia, Adafactor, CAME, Shampoo, Prodigy, Schedule-Free, golden-ratio).

import Testing
import KilnTensor

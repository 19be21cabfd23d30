import Testing
import KilnServe

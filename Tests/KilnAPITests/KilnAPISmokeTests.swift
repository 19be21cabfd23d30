import Testing
import KilnAPI

"""termmate's voice and ears: Fish Speech TTS, sentence streaming, playback with barge-in,
cloning; listening through the microphone with voice activity detection.

Layer 2: imports ``config`` only. sounddevice (PortAudio) and soundfile are imported when
sound is first needed, so a machine without them still chats in text.
"""

from .errors import (
    MicrophoneUnavailable,
    TTSBadResponse,
    TTSError,
    TTSNotAllowed,
    TTSRejected,
    TTSUnavailable,
    VoiceError,
    VoiceExists,
    VoiceNotFound,
    VoiceOff,
    VoiceSampleError,
)
from .events import (
    SentenceAudio,
    SentenceSpeaking,
    SpeechEvent,
    SpeechFailed,
    SpeechFinished,
    SpeechResult,
    SpeechStarted,
    VoiceStatus,
)
from .fish_speech import FishSpeechClient, ReferenceAudio
from .listener import HandsFree, Listener, SpeechOnset
from .microphone import record_voice_sample
from .offline import is_loopback_url
from .pcm import Clip, decode_audio, encode_wav
from .pipeline import SpokenReply
from .player import Player
from .sentences import SentenceSplitter, split_sentences
from .service import VoiceService
from .synthesis import SpeechSynthesizer
from .vad import LISTEN_RATE, Utterance
from .voice_sample import check_voice_name, check_voice_sample, read_voice_sample_file
from .voices import ClonedVoice, Voice, VoiceLibrary, VoiceListing

__all__ = [
    "LISTEN_RATE",
    "Clip",
    "ClonedVoice",
    "FishSpeechClient",
    "HandsFree",
    "Listener",
    "MicrophoneUnavailable",
    "Player",
    "ReferenceAudio",
    "SentenceAudio",
    "SentenceSpeaking",
    "SentenceSplitter",
    "SpeechEvent",
    "SpeechFailed",
    "SpeechFinished",
    "SpeechOnset",
    "SpeechResult",
    "SpeechStarted",
    "SpeechSynthesizer",
    "SpokenReply",
    "TTSBadResponse",
    "TTSError",
    "TTSNotAllowed",
    "TTSRejected",
    "TTSUnavailable",
    "Utterance",
    "Voice",
    "VoiceError",
    "VoiceExists",
    "VoiceLibrary",
    "VoiceListing",
    "VoiceNotFound",
    "VoiceOff",
    "VoiceSampleError",
    "VoiceService",
    "VoiceStatus",
    "check_voice_name",
    "check_voice_sample",
    "decode_audio",
    "encode_wav",
    "is_loopback_url",
    "read_voice_sample_file",
    "record_voice_sample",
    "split_sentences",
]

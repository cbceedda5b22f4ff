# Test fixture written for citusgen: a developer's localsettings.py, as
# CommCare HQ's localsettings.example.py starts, with the setup guide's
# hand-written Citus block appended at the end.
import os

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql_psycopg2',
        'NAME': 'app',
        'USER': 'appuser',
        'PASSWORD': 'apppass',
        'HOST': 'localhost',
        'PORT': '5432',
        'TEST': {
            'SERIALIZE': False,
        },
    },
}

LOCAL_APPS = ()
DEBUG = True

DATABASES.update({
    'reports': {
        'ENGINE': 'django.db.backends.postgresql_psycopg2',
        'DISABLE_SERVER_SIDE_CURSORS': True,
        'NAME': 'reports_citus',
        'USER': 'appuser',
        'PASSWORD': 'apppass',
        'HOST': 'localhost',
        'PORT': '5600',
        'TEST': {
            'SERIALIZE': False,
            # the coordinator is created after / destroyed before the workers
            'DEPENDENCIES': ['reports-worker1', 'reports-worker2'],
        },
        'ROLE': 'citus_master'
    },
    'reports-worker1': {
        'ENGINE': 'django.db.backends.postgresql_psycopg2',
        'DISABLE_SERVER_SIDE_CURSORS': True,
        'NAME': 'reports_citus',
        'USER': 'appuser',
        'PASSWORD': '',
        'HOST': 'localhost',
        'PORT': '5601',
        'TEST': {
            'SERIALIZE': False,
        },
        'ROLE': 'citus_worker',
        'CITUS_NODE_NAME': 'citus_worker1:5432'
    },
    'reports-worker2': {
        'ENGINE': 'django.db.backends.postgresql_psycopg2',
        'DISABLE_SERVER_SIDE_CURSORS': True,
        'NAME': 'reports_citus',
        'USER': 'appuser',
        'PASSWORD': '',
        'HOST': 'localhost',
        'PORT': '5602',
        'TEST': {
            'SERIALIZE': False,
        },
        'ROLE': 'citus_worker',
        'CITUS_NODE_NAME': 'citus_worker2:5432'
    },
})

REPORTS_USE_CITUS = True

REPORTING_DATABASES.update({
    'reports-citus': 'reports',
})
